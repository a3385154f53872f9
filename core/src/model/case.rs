//! The case: every core variable of `docs/case-format.md`, plus form answers.
//!
//! A [`Case`] holds typed values: codes as enums, countries as [`Country`], dates as
//! [`Date`]/[`PartialDate`]; an absent field is `None` or an empty list/set. It converts to and
//! from the flat [`Fields`] the merge and store use (one key per core variable, consent as
//! `consent.<part>`, answers as `answers.<field id>` or, in a repeat group,
//! `answers.<repeat id>.<instance key>.<field id>`, form versions as `forms.<form id>`) and
//! the nested JSON form of imports and the API. Reading checks each value and then the rules between fields (`case_rules.rs`), and
//! reports every fault. Fields are public, so a hand-built case may break a rule: check it with
//! [`Case::validate`]. `Debug` redacts identity data, the guardian's name and answers.

use super::answers::{self, AnswerPath, FieldId, ANSWER_KEY_PREFIX, MAX_ANSWERS};
use super::codes::*;
use super::consent::{AssistanceConsent, Consent, DataSharing};
use super::country::Country;
use super::date::{AgeRange, Date, PartialDate};
use super::document::Document;
use super::json::{self, nest_fields};
use super::keys::*;
use super::read::{self, MAX_ATTACHMENT_REF_CHARS, MAX_DOCUMENTS, MAX_OTHER_NAMES};
use super::validate::{shown_key, unknown_key_reason, Collector, Reason, ValidationErrors};
use super::{case_rules, redacted, Fields, Redacted, RedactedItems};
use crate::forms::FORM_KEY_PREFIX;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One person's case. See `docs/case-format.md` for what each field means.
#[derive(Clone, Default, PartialEq)]
pub struct Case {
    // Identity: sensitive, never in aggregate output.
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Aliases and transliterations, in the order given.
    pub other_names: Vec<String>,
    pub date_of_birth: Option<PartialDate>,
    /// Whole years, when no date of birth is known; dated by `age_estimated_on`.
    pub age_estimate: Option<u8>,
    pub age_estimated_on: Option<Date>,
    /// As written; search folds it.
    pub phone: Option<String>,
    /// Distinct documents, in the order given.
    pub document_numbers: Vec<Document>,
    /// An attachment reference.
    pub photo: Option<String>,
    // Profile.
    pub sex: Option<Sex>,
    pub nationality: Option<Country>,
    pub country_of_assistance: Option<Country>,
    pub intake_date: Option<Date>,
    pub categories: BTreeSet<Category>,
    pub programme: Option<Programme>,
    // Trafficking: only with `Category::VictimOfTrafficking`.
    pub exploitation_types: BTreeSet<ExploitationType>,
    pub labour_sectors: BTreeSet<LabourSector>,
    pub trafficking_type: Option<TraffickingType>,
    pub country_of_destination: Option<Country>,
    // Return and reintegration.
    pub host_country: Option<Country>,
    pub return_date: Option<Date>,
    pub reintegration_assistance: BTreeSet<ReintegrationAssistance>,
    pub consent: Consent,
    // Case management.
    pub status: Option<Status>,
    pub closure_reason: Option<ClosureReason>,
    pub risk_level: Option<RiskLevel>,
    /// The user id of the caseworker responsible.
    pub assigned_to: Option<String>,
    /// Form answers by field id (or repeat instance and field id, see [`AnswerPath`]); never
    /// null.
    pub answers: BTreeMap<AnswerPath, Value>,
    /// The form versions the answers were recorded with: form id → version
    /// (`forms.<form id>`; see [`crate::forms`]).
    pub forms: BTreeMap<FieldId, u32>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answers: BTreeMap<&str, Redacted> = self
            .answers
            .keys()
            .map(|id| (id.as_str(), Redacted))
            .collect();
        f.debug_struct("Case")
            .field("given_name", redacted(&self.given_name))
            .field("family_name", redacted(&self.family_name))
            .field("other_names", &RedactedItems(self.other_names.len()))
            .field("date_of_birth", redacted(&self.date_of_birth))
            .field("age_estimate", redacted(&self.age_estimate))
            .field("age_estimated_on", redacted(&self.age_estimated_on))
            .field("phone", redacted(&self.phone))
            .field(
                "document_numbers",
                &RedactedItems(self.document_numbers.len()),
            )
            .field("photo", redacted(&self.photo))
            .field("sex", &self.sex)
            .field("nationality", &self.nationality)
            .field("country_of_assistance", &self.country_of_assistance)
            .field("intake_date", &self.intake_date)
            .field("categories", &self.categories)
            .field("programme", &self.programme)
            .field("exploitation_types", &self.exploitation_types)
            .field("labour_sectors", &self.labour_sectors)
            .field("trafficking_type", &self.trafficking_type)
            .field("country_of_destination", &self.country_of_destination)
            .field("host_country", &self.host_country)
            .field("return_date", &self.return_date)
            .field("reintegration_assistance", &self.reintegration_assistance)
            .field("consent", &self.consent)
            .field("status", &self.status)
            .field("closure_reason", &self.closure_reason)
            .field("risk_level", &self.risk_level)
            .field("assigned_to", &self.assigned_to)
            .field("answers", &answers)
            .field("forms", &self.forms)
            .finish()
    }
}

impl Case {
    /// Reads and validates a flat field map, taking today from the system clock (UTC).
    pub fn from_fields(fields: &Fields) -> Result<Case, ValidationErrors> {
        Case::from_fields_as_of(fields, Date::today())
    }

    /// Reads and validates a flat field map: every value, then every rule between fields.
    /// Dates after `today` (plus a day for time zones) are in the future.
    pub fn from_fields_as_of(fields: &Fields, today: Date) -> Result<Case, ValidationErrors> {
        let mut c = Collector::default();
        let case = Case::read_checked(&mut c, fields, today);
        c.finish(case)
    }

    /// Reads a flat field map checking each value on its own, but not the rules between fields.
    ///
    /// For state that merging produced: concurrent edits of different fields, each valid, can
    /// together break a rule (one device closes the case while another reopens it), and such a
    /// case must still load so a person can repair it. [`Case::check_rules`] lists what to fix.
    pub fn parse_fields(fields: &Fields) -> Result<Case, ValidationErrors> {
        Case::parse_fields_as_of(fields, Date::today())
    }

    /// [`Case::parse_fields`] with a given today.
    pub fn parse_fields_as_of(fields: &Fields, today: Date) -> Result<Case, ValidationErrors> {
        let mut c = Collector::default();
        let case = Case::read(&mut c, fields, today);
        c.finish(case)
    }

    /// Checks the rules between fields (consent, closure, trafficking, ages), not the values.
    pub fn check_rules(&self) -> Result<(), ValidationErrors> {
        let mut c = Collector::default();
        case_rules::check(self, &|_| false, &mut c);
        c.finish(())
    }

    /// Checks everything [`Case::from_fields`] checks, for a case built or edited in code.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.validate_as_of(Date::today())
    }

    /// [`Case::validate`] with a given today.
    pub fn validate_as_of(&self, today: Date) -> Result<(), ValidationErrors> {
        Case::from_fields_as_of(&self.to_fields(), today).map(|_| ())
    }

    /// The flat field map of the fields present (no nulls); reads back to an equal case.
    pub fn to_fields(&self) -> Fields {
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
        put(DATE_OF_BIRTH, shown(&self.date_of_birth));
        put(AGE_ESTIMATE, self.age_estimate.map(Value::from));
        put(AGE_ESTIMATED_ON, shown(&self.age_estimated_on));
        put(PHONE, text(&self.phone));
        put(
            DOCUMENT_NUMBERS,
            list(&self.document_numbers, Document::to_value),
        );
        put(PHOTO, text(&self.photo));
        put(SEX, shown(&self.sex));
        put(NATIONALITY, shown(&self.nationality));
        put(COUNTRY_OF_ASSISTANCE, shown(&self.country_of_assistance));
        put(INTAKE_DATE, shown(&self.intake_date));
        put(CATEGORIES, codes(&self.categories));
        put(PROGRAMME, shown(&self.programme));
        put(EXPLOITATION_TYPES, codes(&self.exploitation_types));
        put(LABOUR_SECTORS, codes(&self.labour_sectors));
        put(TRAFFICKING_TYPE, shown(&self.trafficking_type));
        put(COUNTRY_OF_DESTINATION, shown(&self.country_of_destination));
        put(HOST_COUNTRY, shown(&self.host_country));
        put(RETURN_DATE, shown(&self.return_date));
        put(
            REINTEGRATION_ASSISTANCE,
            codes(&self.reintegration_assistance),
        );
        put(
            CONSENT_ASSISTANCE,
            self.consent
                .assistance
                .as_ref()
                .map(AssistanceConsent::to_value),
        );
        put(
            CONSENT_DATA_SHARING,
            self.consent
                .data_sharing
                .as_ref()
                .map(DataSharing::to_value),
        );
        put(CONSENT_RESEARCH, self.consent.research.map(Value::from));
        put(CONSENT_GUARDIAN, text(&self.consent.guardian));
        put(STATUS, shown(&self.status));
        put(CLOSURE_REASON, shown(&self.closure_reason));
        put(RISK_LEVEL, shown(&self.risk_level));
        put(ASSIGNED_TO, text(&self.assigned_to));
        for (id, answer) in &self.answers {
            if !answer.is_null() {
                fields.insert(id.key(), answer.clone());
            }
        }
        for (id, version) in &self.forms {
            fields.insert(format!("{FORM_KEY_PREFIX}{id}"), Value::from(*version));
        }
        fields
    }

    /// Reads and validates the nested JSON form (consent and answers as objects).
    pub fn from_json(value: &Value) -> Result<Case, ValidationErrors> {
        Case::from_json_as_of(value, Date::today())
    }

    /// [`Case::from_json`] with a given today.
    pub fn from_json_as_of(value: &Value, today: Date) -> Result<Case, ValidationErrors> {
        let mut c = Collector::default();
        let fields = json::flatten(&mut c, value);
        let case = Case::read_checked(&mut c, &fields, today);
        c.finish(case)
    }

    /// The nested JSON form; reads back to an equal case.
    pub fn to_json(&self) -> Value {
        nest_fields(&self.to_fields())
    }

    /// The names to index for search, as typed: given, family, then other names.
    pub fn search_names(&self) -> Vec<&str> {
        let names = self
            .given_name
            .iter()
            .chain(&self.family_name)
            .chain(&self.other_names);
        names.map(String::as_str).collect()
    }

    /// The phone numbers to index for search, as typed.
    pub fn search_phones(&self) -> Vec<&str> {
        self.phone.iter().map(String::as_str).collect()
    }

    /// The document numbers to index for search, as typed.
    pub fn search_documents(&self) -> Vec<&str> {
        self.document_numbers
            .iter()
            .map(|d| d.number.as_str())
            .collect()
    }

    /// The status code; a case with no status is `open`.
    pub fn status_code(&self) -> &'static str {
        self.status.unwrap_or(Status::Open).as_str()
    }

    /// The person's age on `on`: from the date of birth if known, else from the age estimate
    /// carried forward (or back) from the day it was made. `None` if neither is known, or if
    /// the date of birth is after `on`.
    pub fn age_on(&self, on: Date) -> Option<AgeRange> {
        case_rules::age_on(self, on)
    }

    /// The age at `intake_date`, which is the age reports use.
    pub fn age_at_intake(&self) -> Option<AgeRange> {
        self.intake_date.and_then(|on| self.age_on(on))
    }

    /// Reads every field, then checks the rules between them (skipping rules whose inputs
    /// failed to read), recording every fault.
    fn read_checked(c: &mut Collector, fields: &Fields, today: Date) -> Case {
        let case = Case::read(c, fields, today);
        let failed = c.failed_keys();
        case_rules::check(&case, &|key| failed.contains(key), c);
        case
    }

    /// Reads every field present, recording each fault; a faulty field is left absent.
    fn read(c: &mut Collector, fields: &Fields, today: Date) -> Case {
        let mut case = Case::default();
        for (key, value) in fields {
            let k = key.as_str();
            if let Some(id) = k.strip_prefix(ANSWER_KEY_PREFIX) {
                case.read_answer(c, k, id, value);
                continue;
            }
            if let Some(id) = k.strip_prefix(FORM_KEY_PREFIX) {
                case.read_form_ref(c, k, id, value);
                continue;
            }
            if value.is_null() && CASE_KEYS.contains(&k) {
                continue;
            }
            let consent = &mut case.consent;
            match k {
                GIVEN_NAME => case.given_name = c.take(k, read::name(value)),
                FAMILY_NAME => case.family_name = c.take(k, read::name(value)),
                OTHER_NAMES => {
                    let names = read::list(c, k, value, MAX_OTHER_NAMES, |c, path, v| {
                        c.take(path, read::name(v))
                    });
                    case.other_names = names.unwrap_or_default();
                }
                DATE_OF_BIRTH => case.date_of_birth = c.take(k, read::partial_date(value, today)),
                AGE_ESTIMATE => case.age_estimate = c.take(k, read::age(value)),
                AGE_ESTIMATED_ON => {
                    case.age_estimated_on = c.take(k, read::full_date(value, today));
                }
                PHONE => case.phone = c.take(k, read::phone(value)),
                DOCUMENT_NUMBERS => {
                    let documents = read::unique_list(c, k, value, MAX_DOCUMENTS, Document::read);
                    case.document_numbers = documents.unwrap_or_default();
                }
                PHOTO => case.photo = c.take(k, read::line(value, MAX_ATTACHMENT_REF_CHARS)),
                SEX => case.sex = c.take(k, read::code(value)),
                NATIONALITY => case.nationality = c.take(k, read::country(value)),
                COUNTRY_OF_ASSISTANCE => {
                    case.country_of_assistance = c.take(k, read::country(value))
                }
                INTAKE_DATE => case.intake_date = c.take(k, read::full_date(value, today)),
                CATEGORIES => case.categories = read::code_set(c, k, value).unwrap_or_default(),
                PROGRAMME => case.programme = c.take(k, read::code(value)),
                EXPLOITATION_TYPES => {
                    case.exploitation_types = read::code_set(c, k, value).unwrap_or_default();
                }
                LABOUR_SECTORS => {
                    case.labour_sectors = read::code_set(c, k, value).unwrap_or_default();
                }
                TRAFFICKING_TYPE => case.trafficking_type = c.take(k, read::code(value)),
                COUNTRY_OF_DESTINATION => {
                    case.country_of_destination = c.take(k, read::country(value));
                }
                HOST_COUNTRY => case.host_country = c.take(k, read::country(value)),
                RETURN_DATE => case.return_date = c.take(k, read::full_date(value, today)),
                REINTEGRATION_ASSISTANCE => {
                    case.reintegration_assistance = read::code_set(c, k, value).unwrap_or_default();
                }
                CONSENT_ASSISTANCE => {
                    consent.assistance = AssistanceConsent::read(c, k, value, today);
                }
                CONSENT_DATA_SHARING => consent.data_sharing = DataSharing::read(c, k, value),
                CONSENT_RESEARCH => consent.research = c.take(k, read::boolean(value)),
                CONSENT_GUARDIAN => consent.guardian = c.take(k, read::name(value)),
                STATUS => case.status = c.take(k, read::code(value)),
                CLOSURE_REASON => case.closure_reason = c.take(k, read::code(value)),
                RISK_LEVEL => case.risk_level = c.take(k, read::code(value)),
                ASSIGNED_TO => case.assigned_to = c.take(k, read::user_id(value)),
                _ => c.push(shown_key(k), unknown_key_reason(k, &CASE_KEYS)),
            }
        }
        if case.answers.len() > MAX_ANSWERS {
            c.push(
                "answers",
                Reason::TooManyItems {
                    max_items: MAX_ANSWERS,
                },
            );
        }
        case
    }

    fn read_form_ref(&mut self, c: &mut Collector, key: &str, id: &str, value: &Value) {
        let Some(id) = c.take(&shown_key(key), FieldId::parse(id)) else {
            return;
        };
        if value.is_null() {
            return;
        }
        let version = value
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v >= 1);
        if let Some(version) = c.take(key, version.ok_or(Reason::InvalidFormVersion)) {
            self.forms.insert(id, version);
        }
    }

    fn read_answer(&mut self, c: &mut Collector, key: &str, id: &str, value: &Value) {
        let Some(id) = c.take(&shown_key(key), AnswerPath::parse(id)) else {
            return;
        };
        if value.is_null() {
            return;
        }
        if let Some(answer) = c.take(key, answers::answer(value)) {
            self.answers.insert(id, answer);
        }
    }
}

fn text(value: &Option<String>) -> Option<Value> {
    value.as_deref().map(Value::from)
}

/// Codes, countries and dates are written as their `Display` text.
fn shown<T: fmt::Display>(value: &Option<T>) -> Option<Value> {
    value.as_ref().map(|v| Value::from(v.to_string()))
}

fn list<T>(items: &[T], to_value: impl Fn(&T) -> Value) -> Option<Value> {
    (!items.is_empty()).then(|| items.iter().map(to_value).collect())
}

fn codes<C: Code>(set: &BTreeSet<C>) -> Option<Value> {
    (!set.is_empty()).then(|| set.iter().map(|c| Value::from(c.as_str())).collect())
}

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;
