//! A form definition: the versioned document that says what a form asks.
//!
//! A definition is data (JSON through serde), written by an agency admin directly or imported
//! from XLSForm, published on the server and delivered to devices by sync. [`FormDefinition::
//! from_json`] reads and checks one: unique field ids, choice lists that exist, expressions that
//! parse and refer to fields of the form, core mappings that name core variables, labels in the
//! default language. A checked definition keeps its parsed expressions, so validating answers
//! never parses again. The format is documented in `docs/forms.md`.
//!
//! Definitions are not personal data: errors may quote ids, labels and expressions.

mod check;

use super::expr::{Expr, ExprError};
use super::repeat::Repeat;
use crate::model::FieldId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Most fields in one form: the source's two forms hold about 200 variables together; a form
/// five times that is a mistake, and the bound keeps validation cheap.
pub const MAX_FIELDS: usize = 1000;

/// Most choices in one list (a list of every country is about 250).
pub const MAX_CHOICES: usize = 500;

/// Longest label, hint or title, in characters.
pub const MAX_LABEL_CHARS: usize = 2000;

/// Largest definition as JSON, in bytes. The shipped forms are well under 100 KiB; this bound
/// keeps one form from filling a sync page or a phone's memory.
pub const MAX_DEFINITION_BYTES: usize = 2 * 1024 * 1024;

/// Longest chain of calculations using calculations: each is evaluated where it is used,
/// recursively, so the bound keeps evaluation's stack small; real forms chain two or three.
pub const MAX_CALCULATION_CHAIN: usize = 32;

/// A form's id: the same syntax as a field id (`[a-z][a-z0-9_]{0,63}`).
pub type FormId = FieldId;

/// Text in several languages: language code (`en`, `fr`, ...) → text.
pub type Labels = BTreeMap<String, String>;

/// What an answer to a field is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A line or paragraph of text.
    Text,
    /// A whole number.
    Integer,
    /// Any number.
    Decimal,
    /// A full date, `YYYY-MM-DD`.
    Date,
    /// A date that may be partial: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    PartialDate,
    /// One code of the field's choice list.
    SelectOne,
    /// A list of distinct codes of the field's choice list.
    SelectMultiple,
    /// `true` or `false`.
    YesNo,
    /// An ISO 3166-1 alpha-3 country code.
    Country,
    /// A label shown to the caseworker; takes no answer.
    Note,
    /// A value computed from other answers by its `calculation`; takes no answer (its value is
    /// computed wherever it is referred to, identically on device and server).
    Calculate,
}

impl FieldType {
    pub const ALL: [FieldType; 11] = [
        FieldType::Text,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Date,
        FieldType::PartialDate,
        FieldType::SelectOne,
        FieldType::SelectMultiple,
        FieldType::YesNo,
        FieldType::Country,
        FieldType::Note,
        FieldType::Calculate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::PartialDate => "partial_date",
            FieldType::SelectOne => "select_one",
            FieldType::SelectMultiple => "select_multiple",
            FieldType::YesNo => "yes_no",
            FieldType::Country => "country",
            FieldType::Note => "note",
            FieldType::Calculate => "calculate",
        }
    }

    pub fn parse(text: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Whether the field takes an answer (notes and calculations do not).
    pub fn takes_answer(self) -> bool {
        !matches!(self, FieldType::Note | FieldType::Calculate)
    }

    /// Whether the field takes a choice list.
    pub fn has_choices(self) -> bool {
        matches!(self, FieldType::SelectOne | FieldType::SelectMultiple)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One choice of a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// The code stored in answers: `[A-Za-z0-9_.-]{1,64}`.
    pub code: String,
    pub label: Labels,
    /// Further columns of the choices sheet (`country` for a district), which a field's
    /// `choice_filter` reads by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}

/// One field (question or note).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub id: FieldId,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The choice list of a select field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<String>,
    pub label: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hint: Labels,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Required only when this holds (XLSForm's `required` written as an expression); `required`
    /// is then false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<Condition>,
    /// When the field is shown; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Condition>,
    /// What an answer must satisfy (`.` is the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Condition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constraint_message: Labels,
    /// The core variable this field records (its flat key, e.g. `nationality`): the answer is
    /// stored there rather than under `answers.<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
    /// A calculate field's expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<Condition>,
    /// The answer the app fills in before the caseworker changes it (XLSForm's `default`),
    /// as written; validation does not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Which choices a select field offers, by the choices' columns (`country = ${country}`):
    /// an answer must be one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_filter: Option<Condition>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A group of fields shown together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// `None` for fields outside any group (XLSForm rows outside `begin_group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FieldId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label: Labels,
    /// When the whole section is shown; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Condition>,
    /// The repeat group whose instances each answer these fields (see `forms/repeat.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<FieldId>,
    pub fields: Vec<Field>,
}

impl Section {
    /// The id of the repeat group whose instances answer these fields, if any.
    pub fn repeat_id(&self) -> Option<&str> {
        self.repeat.as_ref().map(FieldId::as_str)
    }
}

/// An expression as written, parsed once when read.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub text: String,
    pub expr: Expr,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, ExprError> {
        Ok(Condition {
            text: text.to_owned(),
            expr: Expr::parse(text)?,
        })
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A form version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDefinition {
    pub id: FormId,
    /// Starts at 1; a new version of the same form has a higher number.
    pub version: u32,
    pub title: Labels,
    pub default_language: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choice_lists: BTreeMap<String, Vec<Choice>>,
    /// Repeat groups by id; their fields are in the sections that name them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub repeats: BTreeMap<FieldId, Repeat>,
    pub sections: Vec<Section>,
}

/// Why a definition is not a valid form. Says where (field id, list name) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("not a form definition: {0}")]
    Malformed(String),
    #[error("definition larger than {MAX_DEFINITION_BYTES} bytes")]
    TooLarge,
    #[error("version must be 1 or more")]
    ZeroVersion,
    #[error("{place}: {reason}")]
    Invalid { place: String, reason: String },
    #[error("{place}: `{expression}`: {error}")]
    Expression {
        place: String,
        expression: String,
        error: ExprError,
    },
}

fn invalid(place: impl Into<String>, reason: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid {
        place: place.into(),
        reason: reason.into(),
    }
}

impl FormDefinition {
    /// Reads and checks a definition from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<FormDefinition, DefinitionError> {
        if bytes.len() > MAX_DEFINITION_BYTES {
            return Err(DefinitionError::TooLarge);
        }
        let form: FormDefinition = serde_json::from_slice(bytes).map_err(|e| {
            // serde's message names the key or position, never anything but the definition.
            DefinitionError::Malformed(e.to_string())
        })?;
        form.check()?;
        Ok(form)
    }

    /// Reads and checks a definition from a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<FormDefinition, DefinitionError> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| DefinitionError::Malformed(e.to_string()))?;
        FormDefinition::from_json(&bytes)
    }

    /// The definition as JSON (reads back to an equal definition).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("definitions always serialize")
    }

    /// Every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.sections.iter().flat_map(|s| s.fields.iter())
    }

    /// The field with this id.
    pub fn field(&self, id: &str) -> Option<&Field> {
        self.fields().find(|f| f.id.as_str() == id)
    }

    /// The repeat group a field belongs to, if any.
    pub fn repeat_of(&self, field_id: &str) -> Option<&FieldId> {
        self.sections
            .iter()
            .find(|s| s.fields.iter().any(|f| f.id.as_str() == field_id))?
            .repeat
            .as_ref()
    }

    /// The languages of the title.
    pub fn languages(&self) -> BTreeSet<&str> {
        self.title.keys().map(String::as_str).collect()
    }

    /// A field's label in `language`, falling back to the default language.
    pub fn label<'a>(&'a self, field: &'a Field, language: &str) -> Option<&'a str> {
        pick(&field.label, language, &self.default_language)
    }

    /// A choice's label in `language`, falling back to the default language.
    pub fn choice_label(&self, field: &Field, code: &str, language: &str) -> Option<&str> {
        let list = self.choice_lists.get(field.choices.as_deref()?)?;
        let choice = list.iter().find(|c| c.code == code)?;
        pick(&choice.label, language, &self.default_language)
    }
}

fn pick<'a>(labels: &'a Labels, language: &str, default: &str) -> Option<&'a str> {
    labels
        .get(language)
        .or_else(|| labels.get(default))
        .map(String::as_str)
}

/// Choice codes and list names: short, and safe in XLSForm's space-separated answers.
pub(crate) fn valid_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
