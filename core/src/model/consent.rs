//! Consent: what the person agreed to, which gates assistance, sharing and research.
//!
//! Four independent parts, each its own flat key (`consent.assistance`, `consent.data_sharing`,
//! `consent.research`, `consent.guardian`) so each merges on its own. This module reads and
//! writes each part's JSON value and answers "may this agency receive identifying data?"; the
//! rules that tie consent to the rest of a case (identifying data needs consent, a child's
//! consent needs a guardian) are in `case_rules.rs`. The guardian's name never shows in `Debug`.

use super::date::Date;
use super::read::{self, MAX_AGENCIES};
use super::validate::{shown_key, Collector, Reason};
use crate::ids::AgencyCode;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// The person's consent, part by part; an absent part was never recorded.
#[derive(Clone, Default, PartialEq)]
pub struct Consent {
    /// `consent.assistance`: consent to be assisted.
    pub assistance: Option<AssistanceConsent>,
    /// `consent.data_sharing`: which partner agencies may receive identifying data.
    pub data_sharing: Option<DataSharing>,
    /// `consent.research`: de-identified use in aggregate research.
    pub research: Option<bool>,
    /// `consent.guardian`: for a child, who consented on the child's behalf.
    pub guardian: Option<String>,
}

impl fmt::Debug for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consent")
            .field("assistance", &self.assistance)
            .field("data_sharing", &self.data_sharing)
            .field("research", &self.research)
            .field("guardian", super::redacted(&self.guardian))
            .finish()
    }
}

impl Consent {
    /// Whether no part is recorded.
    pub fn is_empty(&self) -> bool {
        self == &Consent::default()
    }
}

/// A recorded answer to "do you consent to be assisted?" (yes or no is a record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssistanceConsent {
    pub given: bool,
    pub date: Date,
    /// The user id of the caseworker who recorded it.
    pub recorded_by: String,
}

const ASSISTANCE_PARTS: [&str; 3] = ["given", "date", "recorded_by"];

impl AssistanceConsent {
    /// `{"given": bool, "date": "YYYY-MM-DD", "recorded_by": "user id"}`.
    pub fn to_value(&self) -> Value {
        json!({
            "given": self.given,
            "date": self.date.to_string(),
            "recorded_by": self.recorded_by,
        })
    }

    /// Reads the object form; every part is required, the date is a full date by `today`.
    pub(crate) fn read(
        c: &mut Collector,
        key: &str,
        value: &Value,
        today: Date,
    ) -> Option<AssistanceConsent> {
        let Some(object) = value.as_object() else {
            c.push(
                key,
                Reason::WrongType {
                    expected: read::AN_OBJECT,
                },
            );
            return None;
        };
        let unknown = reject_unknown(c, key, object, &ASSISTANCE_PARTS);
        let part = |c: &mut Collector, name: &str| {
            let path = format!("{key}.{name}");
            match object.get(name) {
                None | Some(Value::Null) => {
                    c.push(path, Reason::Required);
                    None
                }
                Some(v) => Some((path, v)),
            }
        };
        let given = part(c, "given").and_then(|(p, v)| c.take(&p, read::boolean(v)));
        let date = part(c, "date").and_then(|(p, v)| c.take(&p, read::full_date(v, today)));
        let recorded_by = part(c, "recorded_by").and_then(|(p, v)| c.take(&p, read::user_id(v)));
        match (given, date, recorded_by) {
            (Some(given), Some(date), Some(recorded_by)) if !unknown => Some(AssistanceConsent {
                given,
                date,
                recorded_by,
            }),
            _ => None,
        }
    }
}

/// Records an error for each key of `object` not in `known`; whether there was any.
fn reject_unknown(
    c: &mut Collector,
    key: &str,
    object: &Map<String, Value>,
    known: &[&str],
) -> bool {
    let mut any = false;
    for name in object.keys().filter(|k| !known.contains(&k.as_str())) {
        c.push(format!("{key}.{}", shown_key(name)), Reason::UnknownKey);
        any = true;
    }
    any
}

/// Which partner agencies may receive identifying data in a referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSharing {
    /// `"none"`: the person refused sharing with any agency.
    NoAgency,
    /// The agencies listed (never empty: an empty list is written `"none"`).
    Agencies(BTreeSet<AgencyCode>),
}

/// How `consent.data_sharing` writes "no agency".
pub const NO_AGENCY: &str = "none";

const DATA_SHARING_TYPE: &str = "a list of agency codes, or \"none\"";

impl DataSharing {
    /// Whether `agency` may receive identifying data.
    pub fn allows(&self, agency: &AgencyCode) -> bool {
        match self {
            DataSharing::NoAgency => false,
            DataSharing::Agencies(agencies) => agencies.contains(agency),
        }
    }

    /// `"none"` or the list of agency codes, sorted.
    pub fn to_value(&self) -> Value {
        match self {
            DataSharing::NoAgency => Value::from(NO_AGENCY),
            DataSharing::Agencies(agencies) => {
                agencies.iter().map(|a| Value::from(a.as_str())).collect()
            }
        }
    }

    pub(crate) fn read(c: &mut Collector, key: &str, value: &Value) -> Option<DataSharing> {
        match value {
            Value::String(s) if s == NO_AGENCY => Some(DataSharing::NoAgency),
            Value::Array(items) if items.is_empty() => {
                c.push(key, Reason::EmptyList);
                None
            }
            Value::Array(_) => read::set(c, key, value, MAX_AGENCIES, |c, path, v| {
                c.take(path, read::agency(v))
            })
            .map(DataSharing::Agencies),
            _ => {
                c.push(
                    key,
                    Reason::WrongType {
                        expected: DATA_SHARING_TYPE,
                    },
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::parse("2024-06-10").unwrap()
    }

    fn assistance(value: Value) -> Result<AssistanceConsent, super::super::ValidationErrors> {
        let mut c = Collector::default();
        let read = AssistanceConsent::read(&mut c, "consent.assistance", &value, today());
        c.finish(read).map(Option::unwrap)
    }

    fn sharing(value: Value) -> Result<DataSharing, super::super::ValidationErrors> {
        let mut c = Collector::default();
        let read = DataSharing::read(&mut c, "consent.data_sharing", &value);
        c.finish(read).map(Option::unwrap)
    }

    #[test]
    fn assistance_consent_round_trips_and_checks_every_part() {
        let value = json!({"given": false, "date": "2024-06-01", "recorded_by": "cw_17"});
        let consent = assistance(value.clone()).unwrap();
        assert!(!consent.given);
        assert_eq!(consent.to_value(), value);

        let errors = assistance(json!({"given": "yes", "date": "2024-06", "x": 1})).unwrap_err();
        let k = |part: &str| format!("consent.assistance.{part}");
        assert!(errors.contains(
            &k("given"),
            &Reason::WrongType {
                expected: read::A_BOOLEAN
            }
        ));
        assert!(errors.contains(&k("date"), &Reason::PartialDate));
        assert!(errors.contains(&k("recorded_by"), &Reason::Required));
        assert!(errors.contains(&k("x"), &Reason::UnknownKey));
        assert_eq!(errors.len(), 4);

        let future = json!({"given": true, "date": "2030-01-01", "recorded_by": "cw"});
        assert!(assistance(future)
            .unwrap_err()
            .contains(&k("date"), &Reason::FutureDate));
        let errors = assistance(json!(true)).unwrap_err();
        assert!(errors.contains(
            "consent.assistance",
            &Reason::WrongType {
                expected: read::AN_OBJECT
            }
        ));
    }

    #[test]
    fn data_sharing_is_agencies_or_none() {
        assert_eq!(sharing(json!("none")).unwrap(), DataSharing::NoAgency);
        assert_eq!(sharing(json!("none")).unwrap().to_value(), json!("none"));
        let listed = sharing(json!(["unhcr_uga", "iom_uga"])).unwrap();
        assert_eq!(listed.to_value(), json!(["iom_uga", "unhcr_uga"]), "sorted");
        assert!(listed.allows(&AgencyCode::parse("iom_uga").unwrap()));
        assert!(!listed.allows(&AgencyCode::parse("iom_ken").unwrap()));
        assert!(!DataSharing::NoAgency.allows(&AgencyCode::parse("iom_uga").unwrap()));

        let key = "consent.data_sharing";
        assert!(sharing(json!([]))
            .unwrap_err()
            .contains(key, &Reason::EmptyList));
        let wrong = Reason::WrongType {
            expected: DATA_SHARING_TYPE,
        };
        assert!(sharing(json!("all")).unwrap_err().contains(key, &wrong));
        assert!(sharing(json!(true)).unwrap_err().contains(key, &wrong));
        let errors = sharing(json!(["iom_uga", "IOM", "iom_uga", ""])).unwrap_err();
        assert!(errors.contains("consent.data_sharing[1]", &Reason::InvalidAgencyCode));
        assert!(errors.contains("consent.data_sharing[2]", &Reason::DuplicateItem));
        assert!(errors.contains("consent.data_sharing[3]", &Reason::EmptyItem));
    }

    #[test]
    fn debug_hides_the_guardian() {
        let consent = Consent {
            guardian: Some("Aunt Secretname".into()),
            ..Consent::default()
        };
        let debug = format!("{consent:?}");
        assert!(!debug.contains("Secretname"), "{debug}");
        assert!(debug.contains("guardian: <redacted>"), "{debug}");
        assert!(!consent.is_empty() && Consent::default().is_empty());
    }
}
