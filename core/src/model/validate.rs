//! Validation errors of the case model: which field, and why.
//!
//! Every error names the field (its flat key, followed by a path into the value when the fault
//! is inside it, as in `document_numbers[1].issuing_country`) and a [`Reason`]. No error ever
//! carries the offending value: a value typed in the wrong box may be a survivor's name, so
//! reasons are built only from static text, bounds and code lists (codes are not personal data).
//! Even a key is shown only if it looks like a field key; anything else is masked. Parsing
//! collects every error rather than stopping at the first, so a form can mark all its faults at
//! once. This module holds no rules about particular fields; the record modules do.

use std::fmt;

/// Why a field is invalid. Built only from static text and numbers, never from input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("not a field of this record")]
    UnknownKey,
    /// Not a field, but close to some (a typo, another name, a part): says which, best first
    /// ([`super::near_keys`]).
    #[error("not a field of this record; did you mean {}?", one_of(.near))]
    UnknownKeyNear { near: Vec<&'static str> },
    #[error("required")]
    Required,
    /// Required because of another field: the text says when.
    #[error("required when {0}")]
    RequiredWhen(&'static str),
    /// Forbidden unless another field says otherwise: the text says when.
    #[error("only allowed when {0}")]
    OnlyAllowedWhen(&'static str),
    #[error("wrong type: expected {expected}")]
    WrongType { expected: &'static str },
    #[error("unknown code; allowed codes: {}", .allowed.join(", "))]
    UnknownCode { allowed: &'static [&'static str] },
    #[error("not an ISO 3166-1 alpha-3 country code (or XKX for Kosovo)")]
    NotCountry,
    #[error("malformed date: expected {expected}")]
    MalformedDate { expected: &'static str },
    #[error("impossible date (no such month or day)")]
    ImpossibleDate,
    #[error("a full date (YYYY-MM-DD) is required, not a partial date")]
    PartialDate,
    #[error("date is in the future")]
    FutureDate,
    #[error("age out of range: must be {min} to {max} years")]
    AgeOutOfRange { min: u32, max: u32 },
    #[error("date of birth is after intake_date")]
    BirthAfterIntake,
    #[error("text too long: at most {max_chars} characters")]
    TooLong { max_chars: usize },
    #[error("value too large: at most {max_bytes} bytes as JSON")]
    TooLarge { max_bytes: usize },
    #[error("too many items: at most {max_items}")]
    TooManyItems { max_items: usize },
    #[error("empty text (use null for an absent value)")]
    EmptyText,
    #[error("empty list (write \"none\" to record that no agency may receive data)")]
    EmptyList,
    #[error("empty list item")]
    EmptyItem,
    #[error("duplicate item in a set")]
    DuplicateItem,
    #[error("contains control characters")]
    ControlCharacters,
    #[error(
        "not a phone number: needs 6 to 15 digits, with only a leading +, spaces, dashes and \
         parentheses besides"
    )]
    InvalidPhone,
    #[error("not an agency code: 2 to 32 characters of a-z, 0-9 and _, starting with a letter")]
    InvalidAgencyCode,
    #[error("not a record id: a UUID written as 8-4-4-4-12 hexadecimal digits")]
    InvalidRecordId,
    #[error("not a form field id: a letter a-z, then up to 63 of a-z, 0-9 and _")]
    InvalidFieldId,
    #[error("not a repeat instance key: 1 to 32 of a-z and 0-9")]
    InvalidInstanceKey,
    #[error("not a field of a case (a core variable or answers.<field id>)")]
    NotACaseField,
    #[error("must be another agency than the sending one")]
    SameAgency,
    #[error("written only by the server")]
    ServerOnly,
    // Answers checked against a form definition (`crate::forms`).
    #[error("not one of the field's choices")]
    NotAChoice,
    #[error("does not satisfy the field's constraint")]
    ConstraintFailed,
    #[error("answered, but the field is not shown (its relevant condition is false): clear it")]
    NotRelevant,
    #[error("a note takes no answer")]
    NoAnswerExpected,
    #[error("not a field of the case's forms")]
    NotInForm,
    #[error("the field records a core variable: write the core variable, not the answer")]
    RecordedAsCore,
    #[error(
        "the field is asked once per instance of its repeat group: answer it as \
         answers.<repeat>.<instance>.<field>"
    )]
    InRepeat,
    #[error("this form version is not held here; sync to receive it")]
    FormNotHeld,
    #[error("this form version is not published for the agency on the server")]
    FormNotPublished,
    #[error("not a form version: a whole number from 1")]
    InvalidFormVersion,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The flat field key, with a path into its value when the fault is inside it.
    pub field: String,
    pub reason: Reason,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: Reason) -> Self {
        ValidationError {
            field: field.into(),
            reason,
        }
    }

    /// The flat field key alone: `field` without any path into the value
    /// (`document_numbers[1].number` → `document_numbers`,
    /// `consent.assistance.date` → `consent.assistance`).
    pub fn key(&self) -> &str {
        let field = self.field.as_str();
        let end_of = |s: &str| s.find(['[', '.']).unwrap_or(s.len());
        for prefix in ["consent.", "answers.", "forms."] {
            if let Some(rest) = field.strip_prefix(prefix) {
                return &field[..prefix.len() + end_of(rest)];
            }
        }
        &field[..end_of(field)]
    }
}

/// Every invalid field of one record, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The reasons given for exactly `field`.
    pub fn reasons_for(&self, field: &str) -> Vec<&Reason> {
        self.0
            .iter()
            .filter(|e| e.field == field)
            .map(|e| &e.reason)
            .collect()
    }

    /// Whether `field` is invalid for `reason`.
    pub fn contains(&self, field: &str, reason: &Reason) -> bool {
        self.reasons_for(field).contains(&reason)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} invalid field{}", if n == 1 { "" } else { "s" })?;
        for (i, error) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            error.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The longest key an error will name; longer keys are masked.
const MAX_SHOWN_KEY_LEN: usize = 80;

/// What an error shows instead of a key that does not look like a field key.
pub const MASKED_KEY: &str = "<key not shown: not a field key>";

/// `key` if it looks like a field key (`a-z`, `0-9`, `_`, `.`, at most 80 bytes, starting
/// with a letter), else [`MASKED_KEY`]: an import whose columns slipped may put a value where
/// a key belongs, and an error must not repeat it.
pub(crate) fn shown_key(key: &str) -> String {
    let looks_like_key = key.len() <= MAX_SHOWN_KEY_LEN
        && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if looks_like_key {
        key.to_owned()
    } else {
        MASKED_KEY.to_owned()
    }
}

/// Why `key` is refused when it is not one of `known`: with the fields it is close to, when
/// some are. Only a key that is shown gets suggestions: a masked one may be a value.
pub(crate) fn unknown_key_reason(key: &str, known: &[&'static str]) -> Reason {
    if shown_key(key) == MASKED_KEY {
        return Reason::UnknownKey;
    }
    let near = super::near_keys::near_keys(key, known);
    if near.is_empty() {
        Reason::UnknownKey
    } else {
        Reason::UnknownKeyNear { near }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Gathers errors while a record is parsed, so all of them are reported together.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    errors: Vec<ValidationError>,
}

impl Collector {
    pub fn push(&mut self, field: impl Into<String>, reason: Reason) {
        self.errors.push(ValidationError::new(field, reason));
    }

    /// The value of `result`, or `None` after recording its error against `field`.
    pub fn take<T>(&mut self, field: &str, result: Result<T, Reason>) -> Option<T> {
        result.map_err(|reason| self.push(field, reason)).ok()
    }

    /// The value built from parts that each recorded their own error when missing: `Ok` when
    /// nothing was recorded and the value is there. (A missing value with nothing recorded
    /// would be a bug in the caller; it is reported as the record being incomplete, not a panic.)
    pub fn finish_some<T>(mut self, value: Option<T>) -> Result<T, ValidationErrors> {
        if value.is_none() && self.errors.is_empty() {
            self.push("record", Reason::Required);
        }
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(ValidationErrors(self.errors)),
        }
    }

    /// The flat keys (see [`ValidationError::key`]) that have an error so far.
    pub fn failed_keys(&self) -> std::collections::BTreeSet<String> {
        self.errors.iter().map(|e| e.key().to_owned()).collect()
    }

    /// `Ok(value)` if nothing was recorded, else every recorded error.
    pub fn finish<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ValidationErrors(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_every_field_and_reason() {
        let errors = ValidationErrors(vec![
            ValidationError::new(
                "sex",
                Reason::UnknownCode {
                    allowed: &["female", "male"],
                },
            ),
            ValidationError::new("given_name", Reason::TooLong { max_chars: 200 }),
        ]);
        assert_eq!(
            errors.to_string(),
            "2 invalid fields: sex: unknown code; allowed codes: female, male; \
             given_name: text too long: at most 200 characters"
        );
        let one = ValidationErrors(vec![ValidationError::new("status", Reason::Required)]);
        assert_eq!(one.to_string(), "1 invalid field: status: required");
        assert!(errors.contains("given_name", &Reason::TooLong { max_chars: 200 }));
        assert!(!errors.contains("given_name", &Reason::Required));
        let as_error: &dyn std::error::Error = &errors;
        assert!(as_error.to_string().starts_with("2 invalid"));
    }

    #[test]
    fn the_key_of_an_error_drops_the_path_into_the_value() {
        let key = |field: &str| {
            ValidationError::new(field, Reason::Required)
                .key()
                .to_owned()
        };
        assert_eq!(key("document_numbers[1].number"), "document_numbers");
        assert_eq!(key("other_names[0]"), "other_names");
        assert_eq!(key("consent.assistance.date"), "consent.assistance");
        assert_eq!(key("consent.data_sharing[2]"), "consent.data_sharing");
        assert_eq!(key("consent.guardian"), "consent.guardian");
        assert_eq!(key("answers.household_size"), "answers.household_size");
        assert_eq!(key("sex"), "sex");
    }

    #[test]
    fn only_key_like_keys_are_shown() {
        assert_eq!(
            shown_key("answers.household_size"),
            "answers.household_size"
        );
        assert_eq!(shown_key("Zaynab Secret"), MASKED_KEY);
        assert_eq!(shown_key("+256 700 123456"), MASKED_KEY);
        assert_eq!(shown_key(&"a".repeat(81)), MASKED_KEY);
        assert_eq!(shown_key(""), MASKED_KEY);
    }

    #[test]
    fn the_collector_reports_everything_or_the_value() {
        let mut c = Collector::default();
        assert_eq!(c.take("a", Ok::<_, Reason>(1)), Some(1));
        assert!(c.failed_keys().is_empty());
        assert_eq!(c.take::<u8>("b", Err(Reason::Required)), None);
        c.push("c", Reason::EmptyText);
        let errors = c.finish(()).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors.reasons_for("b"), [&Reason::Required]);
        assert_eq!(Collector::default().finish(7), Ok(7));
    }
}
