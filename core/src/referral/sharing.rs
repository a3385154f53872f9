//! Which fields of a case may reach an agency a case is referred to.
//!
//! The rule, from the consent section of the core variables: a referral may share the
//! non-identifying core variables (profile, trafficking, return, case management, the consent
//! record itself); it may share identifying fields — names, date of birth and age, phone,
//! documents, photo, the guardian's name — only when `consent.data_sharing` names the receiving
//! agency. Form answers (`answers.*`) can hold anything a form asked, so they count as
//! identifying. A key that is neither a core variable nor an answer is never shared.
//!
//! The device checks a new referral's `shared_fields` with [`check_shared_fields`] and refuses
//! it, naming the field; the server narrows what it delivers with [`shareable`] against the
//! consent it holds when it delivers, so a hostile device, or consent withdrawn after the
//! referral was made, never widens what the receiving agency gets.

use crate::ids::AgencyCode;
use crate::model::answers::{AnswerPath, ANSWER_KEY_PREFIX};
use crate::model::consent::DataSharing;
use crate::model::keys::{CASE_KEYS, CONSENT_DATA_SHARING, CONSENT_GUARDIAN, IDENTITY};
use crate::model::validate::{shown_key, Collector};
use crate::model::Fields;
use std::collections::BTreeSet;

/// Whether `key` names data that identifies the person.
pub fn is_identifying(key: &str) -> bool {
    IDENTITY.contains(&key) || key == CONSENT_GUARDIAN || key.starts_with(ANSWER_KEY_PREFIX)
}

/// Whether `key` is a field of a case at all (a core variable or a well-formed answer key).
pub fn is_case_key(key: &str) -> bool {
    CASE_KEYS.contains(&key)
        || key
            .strip_prefix(ANSWER_KEY_PREFIX)
            .is_some_and(|id| AnswerPath::parse(id).is_ok())
}

/// Whether the case's consent names `agency` for identifying data. Absent or unreadable
/// consent names nobody.
pub fn consent_names(case: &Fields, agency: &AgencyCode) -> bool {
    let Some(value) = case.get(CONSENT_DATA_SHARING).filter(|v| !v.is_null()) else {
        return false;
    };
    let mut ignored = Collector::default();
    DataSharing::read(&mut ignored, CONSENT_DATA_SHARING, value).is_some_and(|s| s.allows(agency))
}

/// Whether `key` of a case with these values may be shared with `agency`.
pub fn may_share(key: &str, case: &Fields, agency: &AgencyCode) -> bool {
    is_case_key(key) && (!is_identifying(key) || consent_names(case, agency))
}

/// Every key of this case that may be shared with `agency`: the core variables the rule
/// allows, and the case's present answers when consent names the agency.
pub fn allowed_shared_fields(case: &Fields, agency: &AgencyCode) -> BTreeSet<String> {
    CASE_KEYS
        .iter()
        .map(|k| (*k).to_owned())
        .chain(
            case.keys()
                .filter(|k| k.starts_with(ANSWER_KEY_PREFIX))
                .cloned(),
        )
        .filter(|k| may_share(k, case, agency))
        .collect()
}

/// The part of `requested` that may be shared now: what the server delivers.
pub fn shareable<'a>(
    requested: impl IntoIterator<Item = &'a String>,
    case: &Fields,
    agency: &AgencyCode,
) -> BTreeSet<String> {
    requested
        .into_iter()
        .filter(|k| may_share(k, case, agency))
        .cloned()
        .collect()
}

/// Why a referral may not share a field. Names the key (masked unless it looks like one),
/// never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SharingError {
    #[error("{field} is not a field of a case")]
    UnknownField { field: String },
    #[error(
        "{field} identifies the person and the case's consent.data_sharing does not name the \
         receiving agency; record that consent first, or leave the field out"
    )]
    NotConsented { field: String },
}

/// Checks that every requested field may be shared with `agency`; the first that may not is
/// the error.
pub fn check_shared_fields(
    requested: &BTreeSet<String>,
    case: &Fields,
    agency: &AgencyCode,
) -> Result<(), SharingError> {
    for key in requested {
        if !is_case_key(key) {
            return Err(SharingError::UnknownField {
                field: shown_key(key),
            });
        }
        if !may_share(key, case, agency) {
            return Err(SharingError::NotConsented { field: key.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agency(code: &str) -> AgencyCode {
        AgencyCode::parse(code).unwrap()
    }

    fn case(sharing: serde_json::Value) -> Fields {
        [
            ("given_name".to_owned(), json!("Amina")),
            ("sex".to_owned(), json!("female")),
            ("answers.narrative".to_owned(), json!("…")),
            ("consent.data_sharing".to_owned(), sharing),
        ]
        .into()
    }

    #[test]
    fn identifying_fields_need_consent_naming_the_agency() {
        let named = case(json!(["iom_eth"]));
        let none = case(json!("none"));
        let eth = agency("iom_eth");
        for key in [
            "given_name",
            "date_of_birth",
            "phone",
            "photo",
            "consent.guardian",
        ] {
            assert!(is_identifying(key), "{key}");
            assert!(may_share(key, &named, &eth), "{key}");
            assert!(!may_share(key, &none, &eth), "{key}");
            assert!(!may_share(key, &named, &agency("ngo_x")), "{key}");
        }
        for key in ["sex", "nationality", "consent.assistance", "risk_level"] {
            assert!(!is_identifying(key));
            assert!(may_share(key, &none, &eth), "{key}");
        }
        assert!(
            !may_share("answers.narrative", &none, &eth),
            "answers count as identifying"
        );
        assert!(may_share("answers.narrative", &named, &eth));
        assert!(
            !may_share("given_name", &Fields::new(), &eth),
            "no consent, no names"
        );
        assert!(!may_share("not_a_field", &named, &eth));
    }

    #[test]
    fn the_allowed_set_and_the_check_agree() {
        let none = case(json!("none"));
        let eth = agency("iom_eth");
        let allowed = allowed_shared_fields(&none, &eth);
        assert!(allowed.contains("sex") && !allowed.contains("given_name"));
        assert!(!allowed.contains("answers.narrative"));
        let named = allowed_shared_fields(&case(json!(["iom_eth"])), &eth);
        assert!(named.contains("given_name") && named.contains("answers.narrative"));

        let ok: BTreeSet<String> = ["sex".into(), "nationality".into()].into();
        assert_eq!(check_shared_fields(&ok, &none, &eth), Ok(()));
        let names: BTreeSet<String> = ["sex".into(), "given_name".into()].into();
        assert_eq!(
            check_shared_fields(&names, &none, &eth),
            Err(SharingError::NotConsented {
                field: "given_name".into()
            })
        );
        let bogus: BTreeSet<String> = ["Amina Secret".into()].into();
        let error = check_shared_fields(&bogus, &none, &eth).unwrap_err();
        assert!(!error.to_string().contains("Amina"), "{error}");
        assert_eq!(
            shareable(&names, &none, &eth),
            ["sex".to_owned()].into(),
            "the server strips what consent does not allow"
        );
    }
}
