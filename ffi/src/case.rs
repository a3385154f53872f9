//! The case as the apps see it: a record of typed core variables, plus form answers as JSON.
//!
//! Codes are enums ([`crate::codes`]); countries are ISO 3166-1 alpha-3 strings (`"UGA"`);
//! dates are ISO strings (`"2024-06-01"`; a date of birth may be `"1990"` or `"1990-06"`);
//! form answers are one JSON object text, `{"household_size": 4}`, and the form versions they
//! are recorded with another, `{"iom_screening": 1}`. Consent is flattened into
//! its four parts, as it merges part by part.
//!
//! Conversion goes through core's flat field map in both directions, so core alone decides
//! what is valid and its errors name the field: this module does no validation of its own
//! beyond "the answers are a JSON object". A stored case whose fields do not all read (a value
//! merged in from a device with a fast clock, say) still loads: the fields that do not read are
//! listed in [`CaseRecord::unreadable_fields`], kept in the store, and left alone by edits.
//!
//! `Debug` of these records shows nothing of their content: they hold personal data.

use crate::codes::*;
use crate::error::{FieldcaseError, Result};
use fieldcase_core::forms::FORM_KEY_PREFIX;
use fieldcase_core::model::answers::ANSWER_KEY_PREFIX;
use fieldcase_core::model::consent::NO_AGENCY;
use fieldcase_core::model::keys::*;
use fieldcase_core::model::{AnswerPath, Case, Code, DataSharing, FieldId, Fields};
use fieldcase_core::store::CaseRecord as CoreCaseRecord;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One identity document.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct IdentityDocument {
    pub doc_type: DocumentType,
    /// As written on the document; search ignores spaces, dashes and case.
    pub number: String,
    /// ISO 3166-1 alpha-3, when known.
    #[uniffi(default = None)]
    pub issuing_country: Option<String>,
}

/// A recorded answer to "do you consent to be assisted?" (a "no" is a record too).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AssistanceConsent {
    pub given: bool,
    /// `YYYY-MM-DD`, not in the future.
    pub date: String,
    /// The user id of the caseworker who recorded it.
    pub recorded_by: String,
}

/// Which partner agencies may receive identifying data in a referral.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum DataSharingConsent {
    /// The person refused sharing with any agency.
    NoAgency,
    /// These agency codes, never empty.
    Agencies { codes: Vec<String> },
}

/// The core variables of a case (see `docs/case-format.md`). Every field has a default,
/// so an app writes only what it knows: `CaseData(givenName = "…", sex = Sex.FEMALE)`.
#[derive(Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CaseData {
    #[uniffi(default = None)]
    pub given_name: Option<String>,
    #[uniffi(default = None)]
    pub family_name: Option<String>,
    /// Aliases and transliterations.
    #[uniffi(default = [])]
    pub other_names: Vec<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub date_of_birth: Option<String>,
    /// Whole years, when no date of birth is known; needs `age_estimated_on`.
    #[uniffi(default = None)]
    pub age_estimate: Option<u8>,
    #[uniffi(default = None)]
    pub age_estimated_on: Option<String>,
    #[uniffi(default = None)]
    pub phone: Option<String>,
    #[uniffi(default = [])]
    pub document_numbers: Vec<IdentityDocument>,
    /// An attachment reference.
    #[uniffi(default = None)]
    pub photo: Option<String>,
    #[uniffi(default = None)]
    pub sex: Option<Sex>,
    /// ISO 3166-1 alpha-3.
    #[uniffi(default = None)]
    pub nationality: Option<String>,
    /// ISO 3166-1 alpha-3.
    #[uniffi(default = None)]
    pub country_of_assistance: Option<String>,
    /// `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub intake_date: Option<String>,
    #[uniffi(default = [])]
    pub categories: Vec<Category>,
    #[uniffi(default = None)]
    pub programme: Option<Programme>,
    #[uniffi(default = [])]
    pub exploitation_types: Vec<ExploitationType>,
    #[uniffi(default = [])]
    pub labour_sectors: Vec<LabourSector>,
    #[uniffi(default = None)]
    pub trafficking_type: Option<TraffickingType>,
    /// ISO 3166-1 alpha-3.
    #[uniffi(default = None)]
    pub country_of_destination: Option<String>,
    /// ISO 3166-1 alpha-3.
    #[uniffi(default = None)]
    pub host_country: Option<String>,
    /// `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub return_date: Option<String>,
    #[uniffi(default = [])]
    pub reintegration_assistance: Vec<ReintegrationAssistance>,
    /// Required once any identifying data (a name, date of birth, phone, document or photo)
    /// is recorded.
    #[uniffi(default = None)]
    pub consent_assistance: Option<AssistanceConsent>,
    #[uniffi(default = None)]
    pub consent_data_sharing: Option<DataSharingConsent>,
    /// De-identified use in aggregate research.
    #[uniffi(default = None)]
    pub consent_research: Option<bool>,
    /// For a child: who consented on the child's behalf.
    #[uniffi(default = None)]
    pub consent_guardian: Option<String>,
    #[uniffi(default = None)]
    pub status: Option<CaseStatus>,
    /// Exactly when the status is closed.
    #[uniffi(default = None)]
    pub closure_reason: Option<ClosureReason>,
    #[uniffi(default = None)]
    pub risk_level: Option<RiskLevel>,
    /// The user id of the caseworker responsible.
    #[uniffi(default = None)]
    pub assigned_to: Option<String>,
    /// Form answers: a JSON object by form field id (`[a-z][a-z0-9_]*`), any JSON values.
    #[uniffi(default = "{}")]
    pub answers_json: String,
    /// The form versions the answers are recorded with: a JSON object, form id → version
    /// (`{"iom_screening": 1}`). Core checks the answers against exactly these versions.
    #[uniffi(default = "{}")]
    pub forms_json: String,
}

/// A stored case: its data, and what the store knows about it.
#[derive(Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CaseRecord {
    /// A UUID made on the device that created the case.
    pub id: String,
    pub owner_agency: String,
    /// When the case was first written and last changed (ms since the Unix epoch, by the
    /// writing device's clock).
    pub created_ms: i64,
    pub updated_ms: i64,
    pub data: CaseData,
    /// Values that lost a concurrent edit, for a supervisor to review (`list_conflicts`).
    pub conflict_count: u32,
    /// Field keys whose stored value did not read as a valid value (kept, not shown).
    pub unreadable_fields: Vec<String>,
}

redacted_debug!(
    IdentityDocument,
    AssistanceConsent,
    DataSharingConsent,
    CaseData,
    CaseRecord
);

fn text(value: &Option<String>) -> Option<Value> {
    value.as_deref().map(Value::from)
}

fn list<T>(items: &[T], to_value: impl Fn(&T) -> Value) -> Option<Value> {
    (!items.is_empty()).then(|| items.iter().map(to_value).collect())
}

fn code<C: Code>(value: Option<C>) -> Option<Value> {
    value.map(|c| Value::from(c.as_str()))
}

fn codes<C: Code>(items: &[C]) -> Option<Value> {
    list(items, |c| Value::from(c.as_str()))
}

/// The flat keys a case may hold: core's fixed keys and well-formed answer keys.
fn is_case_key(key: &str) -> bool {
    CASE_KEYS.contains(&key)
        || key
            .strip_prefix(ANSWER_KEY_PREFIX)
            .is_some_and(|path| AnswerPath::parse(path).is_ok())
        || key
            .strip_prefix(FORM_KEY_PREFIX)
            .is_some_and(|id| FieldId::parse(id).is_ok())
}

/// Whether a key may be shown (a field key, not something a value slipped into).
fn looks_like_key(key: &str) -> bool {
    key.len() <= 80
        && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

impl IdentityDocument {
    fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(self.doc_type.as_str()));
        object.insert("number".into(), Value::from(self.number.as_str()));
        if let Some(country) = &self.issuing_country {
            object.insert("issuing_country".into(), Value::from(country.as_str()));
        }
        Value::Object(object)
    }
}

impl CaseData {
    /// Core's flat field map of the fields present. Fails only when `answers_json` is not a
    /// JSON object; everything else is for core to judge.
    pub(crate) fn to_fields(&self) -> Result<Fields> {
        let mut fields = Fields::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                fields.insert(key.to_owned(), value);
            }
        };
        put(GIVEN_NAME, text(&self.given_name));
        put(FAMILY_NAME, text(&self.family_name));
        put(
            OTHER_NAMES,
            list(&self.other_names, |n| Value::from(n.as_str())),
        );
        put(DATE_OF_BIRTH, text(&self.date_of_birth));
        put(AGE_ESTIMATE, self.age_estimate.map(Value::from));
        put(AGE_ESTIMATED_ON, text(&self.age_estimated_on));
        put(PHONE, text(&self.phone));
        put(
            DOCUMENT_NUMBERS,
            list(&self.document_numbers, IdentityDocument::to_value),
        );
        put(PHOTO, text(&self.photo));
        put(SEX, code(self.sex));
        put(NATIONALITY, text(&self.nationality));
        put(COUNTRY_OF_ASSISTANCE, text(&self.country_of_assistance));
        put(INTAKE_DATE, text(&self.intake_date));
        put(CATEGORIES, codes(&self.categories));
        put(PROGRAMME, code(self.programme));
        put(EXPLOITATION_TYPES, codes(&self.exploitation_types));
        put(LABOUR_SECTORS, codes(&self.labour_sectors));
        put(TRAFFICKING_TYPE, code(self.trafficking_type));
        put(COUNTRY_OF_DESTINATION, text(&self.country_of_destination));
        put(HOST_COUNTRY, text(&self.host_country));
        put(RETURN_DATE, text(&self.return_date));
        put(
            REINTEGRATION_ASSISTANCE,
            codes(&self.reintegration_assistance),
        );
        put(
            CONSENT_ASSISTANCE,
            self.consent_assistance
                .as_ref()
                .map(|c| json!({"given": c.given, "date": c.date, "recorded_by": c.recorded_by})),
        );
        put(
            CONSENT_DATA_SHARING,
            self.consent_data_sharing.as_ref().map(|d| match d {
                DataSharingConsent::NoAgency => Value::from(NO_AGENCY),
                DataSharingConsent::Agencies { codes } => {
                    codes.iter().map(|c| Value::from(c.as_str())).collect()
                }
            }),
        );
        put(CONSENT_RESEARCH, self.consent_research.map(Value::from));
        put(CONSENT_GUARDIAN, text(&self.consent_guardian));
        put(STATUS, code(self.status));
        put(CLOSURE_REASON, code(self.closure_reason));
        put(RISK_LEVEL, code(self.risk_level));
        put(ASSIGNED_TO, text(&self.assigned_to));
        for (id, answer) in parse_answers(&self.answers_json)? {
            if !answer.is_null() {
                fields.insert(format!("{ANSWER_KEY_PREFIX}{id}"), answer);
            }
        }
        for (id, version) in parse_object(
            &self.forms_json,
            "forms",
            "a JSON object of form versions by form id",
        )? {
            if !version.is_null() {
                fields.insert(format!("{FORM_KEY_PREFIX}{id}"), version);
            }
        }
        Ok(fields)
    }

    /// The changes that turn `original` into `self`: changed and new fields with their value,
    /// removed fields as `null`. Fields the app did not touch are not sent, so an edit made on
    /// a case loaded before a sync does not undo what the sync brought.
    pub(crate) fn changes_from(&self, original: &CaseData) -> Result<Fields> {
        let before = original.to_fields()?;
        let after = self.to_fields()?;
        let mut changes: Fields = after
            .iter()
            .filter(|(key, value)| before.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        for key in before.keys().filter(|key| !after.contains_key(*key)) {
            changes.insert(key.clone(), Value::Null);
        }
        Ok(changes)
    }

    /// Reads a case from core's typed form.
    fn from_case(case: Case) -> CaseData {
        CaseData {
            given_name: case.given_name,
            family_name: case.family_name,
            other_names: case.other_names,
            date_of_birth: case.date_of_birth.map(|d| d.to_string()),
            age_estimate: case.age_estimate,
            age_estimated_on: case.age_estimated_on.map(|d| d.to_string()),
            phone: case.phone,
            document_numbers: case
                .document_numbers
                .into_iter()
                .map(|d| IdentityDocument {
                    doc_type: d.doc_type,
                    number: d.number,
                    issuing_country: d.issuing_country.map(|c| c.as_str().to_owned()),
                })
                .collect(),
            photo: case.photo,
            sex: case.sex,
            nationality: case.nationality.map(|c| c.as_str().to_owned()),
            country_of_assistance: case.country_of_assistance.map(|c| c.as_str().to_owned()),
            intake_date: case.intake_date.map(|d| d.to_string()),
            categories: case.categories.into_iter().collect(),
            programme: case.programme,
            exploitation_types: case.exploitation_types.into_iter().collect(),
            labour_sectors: case.labour_sectors.into_iter().collect(),
            trafficking_type: case.trafficking_type,
            country_of_destination: case.country_of_destination.map(|c| c.as_str().to_owned()),
            host_country: case.host_country.map(|c| c.as_str().to_owned()),
            return_date: case.return_date.map(|d| d.to_string()),
            reintegration_assistance: case.reintegration_assistance.into_iter().collect(),
            consent_assistance: case.consent.assistance.map(|c| AssistanceConsent {
                given: c.given,
                date: c.date.to_string(),
                recorded_by: c.recorded_by,
            }),
            consent_data_sharing: case.consent.data_sharing.map(|d| match d {
                DataSharing::NoAgency => DataSharingConsent::NoAgency,
                DataSharing::Agencies(agencies) => DataSharingConsent::Agencies {
                    codes: agencies.iter().map(|a| a.as_str().to_owned()).collect(),
                },
            }),
            consent_research: case.consent.research,
            consent_guardian: case.consent.guardian,
            status: case.status,
            closure_reason: case.closure_reason,
            risk_level: case.risk_level,
            assigned_to: case.assigned_to,
            answers_json: Value::Object(
                case.answers
                    .into_iter()
                    .map(|(id, answer)| (id.as_str().to_owned(), answer))
                    .collect(),
            )
            .to_string(),
            forms_json: Value::Object(
                case.forms
                    .into_iter()
                    .map(|(id, version)| (id.as_str().to_owned(), Value::from(version)))
                    .collect(),
            )
            .to_string(),
        }
    }

    /// Reads stored fields as leniently as merge requires: each value is checked on its own
    /// (not the rules between fields, which concurrent edits may break until a person repairs
    /// the case), and values that do not read are left out and named.
    pub(crate) fn from_stored(fields: &Fields) -> (CaseData, Vec<String>) {
        let mut unreadable: BTreeSet<String> = fields
            .keys()
            .filter(|key| !is_case_key(key) && looks_like_key(key))
            .cloned()
            .collect();
        let mut readable: Fields = fields
            .iter()
            .filter(|(key, _)| is_case_key(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Each error names a known key, so one pass removes every unreadable value.
        if let Err(errors) = Case::parse_fields(&readable) {
            for error in &errors {
                readable.remove(error.key());
                unreadable.insert(error.key().to_owned());
            }
        }
        let data = match Case::parse_fields(&readable) {
            Ok(case) => CaseData::from_case(case),
            Err(errors) => {
                unreadable.extend(errors.iter().map(|e| e.key().to_owned()));
                CaseData::default()
            }
        };
        (data, unreadable.into_iter().collect())
    }
}

impl CaseRecord {
    pub(crate) fn from_core(record: CoreCaseRecord) -> CaseRecord {
        let (data, unreadable_fields) = CaseData::from_stored(&record.fields);
        CaseRecord {
            id: record.id.to_string(),
            owner_agency: record.owner_agency,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
            data,
            conflict_count: u32::try_from(record.conflicts.len()).unwrap_or(u32::MAX),
            unreadable_fields,
        }
    }
}

/// The answers object, by field id. Blank text means no answers.
fn parse_answers(answers_json: &str) -> Result<Map<String, Value>> {
    parse_object(
        answers_json,
        "answers",
        "a JSON object of answers by form field id",
    )
}

/// A JSON object given as text; blank text is an empty object.
fn parse_object(text: &str, field: &str, expected: &'static str) -> Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        // serde_json's message could quote the text; only the fact is reported.
        _ => Err(FieldcaseError::invalid_field(field, expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CaseData {
        CaseData {
            given_name: Some("Amina".into()),
            family_name: Some("Okello".into()),
            date_of_birth: Some("1990-06".into()),
            sex: Some(Sex::Female),
            nationality: Some("UGA".into()),
            intake_date: Some("2024-06-01".into()),
            categories: vec![Category::VictimOfTrafficking],
            exploitation_types: vec![ExploitationType::Labour],
            document_numbers: vec![IdentityDocument {
                doc_type: DocumentType::Passport,
                number: "B1234567".into(),
                issuing_country: Some("UGA".into()),
            }],
            consent_assistance: Some(AssistanceConsent {
                given: true,
                date: "2024-06-01".into(),
                recorded_by: "cw_1".into(),
            }),
            consent_data_sharing: Some(DataSharingConsent::Agencies {
                codes: vec!["iom_ken".into()],
            }),
            status: Some(CaseStatus::Active),
            answers_json: r#"{"household_size": 4, "languages": ["en", "sw"]}"#.into(),
            forms_json: r#"{"household": 2}"#.into(),
            ..CaseData::default()
        }
    }

    #[test]
    fn a_case_round_trips_through_core_fields() {
        let data = sample();
        let fields = data.to_fields().unwrap();
        assert!(Case::from_fields(&fields).is_ok());
        assert_eq!(fields["answers.household_size"], json!(4));
        assert_eq!(fields["forms.household"], json!(2));
        let (back, unreadable) = CaseData::from_stored(&fields);
        assert!(unreadable.is_empty());
        assert_eq!(back.to_fields().unwrap(), fields);
        assert_eq!(back.given_name.as_deref(), Some("Amina"));
        assert_eq!(back.categories, vec![Category::VictimOfTrafficking]);
    }

    #[test]
    fn repeat_instances_are_answers_json_keys() {
        let first = crate::forms::new_repeat_instance_key();
        let second = crate::forms::new_repeat_instance_key();
        assert_ne!(first, second);
        let mut data = sample();
        data.answers_json = format!(
            r#"{{"household_size": 2, "member.{first}.member_age": 41, "member.{second}.member_age": 9}}"#
        );
        let fields = data.to_fields().unwrap();
        assert_eq!(
            fields[&format!("answers.member.{first}.member_age")],
            json!(41)
        );
        let (back, unreadable) = CaseData::from_stored(&fields);
        assert!(unreadable.is_empty());
        assert_eq!(back.to_fields().unwrap(), fields);
        // A malformed instance key is refused by core's case model, naming the key.
        data.answers_json = r#"{"member.Not-A-Key.member_age": 41}"#.into();
        let fields = data.to_fields().unwrap();
        assert!(Case::from_fields(&fields).is_err());
    }

    #[test]
    fn changes_hold_only_what_the_app_changed() {
        let original = sample();
        let mut edited = original.clone();
        edited.risk_level = Some(RiskLevel::High);
        edited.family_name = None;
        edited.answers_json = r#"{"household_size": 4}"#.into();
        let changes = edited.changes_from(&original).unwrap();
        let keys: Vec<&str> = changes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["answers.languages", "family_name", "risk_level"]);
        assert_eq!(changes["family_name"], Value::Null);
        assert_eq!(changes["risk_level"], json!("high"));
        assert!(original.changes_from(&original).unwrap().is_empty());
    }

    #[test]
    fn unreadable_values_are_named_and_the_rest_still_loads() {
        let mut fields = sample().to_fields().unwrap();
        fields.insert("nationality".into(), json!("Zaynab"));
        fields.insert("Not A Key".into(), json!(1));
        fields.insert("future_key".into(), json!(1));
        let (data, unreadable) = CaseData::from_stored(&fields);
        assert_eq!(unreadable, ["future_key", "nationality"]);
        assert_eq!(data.nationality, None);
        assert_eq!(data.given_name.as_deref(), Some("Amina"));
    }

    #[test]
    fn answers_must_be_a_json_object_and_debug_shows_nothing() {
        for bad in ["[1]", "{", "\"Amina\""] {
            let data = CaseData {
                answers_json: bad.into(),
                ..CaseData::default()
            };
            let Err(FieldcaseError::Invalid { problems, reason }) = data.to_fields() else {
                panic!("accepted {bad}");
            };
            assert_eq!(problems[0].field, "answers");
            assert!(!reason.contains("Amina"));
        }
        assert!(CaseData::default().to_fields().unwrap().is_empty());
        assert_eq!(format!("{:?}", sample()), "CaseData { .. }");
    }
}
