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

use crate::hlc::Hlc;
use crate::ids::AgencyCode;
use crate::merge::op::FieldChange;
use crate::merge::RecordState;
use crate::model::answers::{AnswerPath, ANSWER_KEY_PREFIX};
use crate::model::consent::DataSharing;
use crate::model::keys::{CASE_KEYS, CONSENT_DATA_SHARING, CONSENT_GUARDIAN, IDENTITY};
use crate::model::validate::{shown_key, Collector};
use crate::model::Fields;
use std::collections::{BTreeMap, BTreeSet};

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

/// The copies of a case's shared fields delivered to the receiving agency: the fields of
/// `requested` that consent allows now ([`shareable`]), present (not cleared), grouped by the
/// version that wrote them — each copy keeps its version, so delivering it twice merges to
/// nothing. Returns the allowed set too (the delivery's field list). The server delivers these
/// when it records a referral; a phone handing a referral over without a network puts the
/// same groups in the bundle, so both paths give the receiving agency exactly the same data.
pub fn shared_copies(
    requested: &BTreeSet<String>,
    case: &RecordState,
    agency: &AgencyCode,
) -> (
    BTreeSet<String>,
    BTreeMap<Hlc, BTreeMap<String, FieldChange>>,
) {
    let allowed = shareable(requested, &case.values(), agency);
    let mut by_version: BTreeMap<Hlc, BTreeMap<String, FieldChange>> = BTreeMap::new();
    for (key, field) in &case.fields {
        if allowed.contains(key) && !field.value.is_null() {
            by_version
                .entry(field.hlc)
                .or_default()
                .insert(key.clone(), FieldChange::fresh(field.value.clone()));
        }
    }
    (allowed, by_version)
}

/// Whether an agency may see an attachment declared by `declared_by`, hanging on `field` of a
/// case, through a grant that shares `granted` (`None`: no grant); `case` is the case's
/// current values, whose consent decides.
///
/// The rule: the declaring agency sees it; any other agency — the case's owner after a
/// transfer included — only through a grant that shares the field the attachment hangs on,
/// while the consent names it: attachments are photos of a person or of their papers, so they
/// are identifying whatever field they hang on. The server asks it for every attachment it
/// lists to a device; a phone asks it for every attachment it puts in a handoff bundle.
pub fn attachment_visible(
    agency: &AgencyCode,
    declared_by: &AgencyCode,
    field: &str,
    granted: Option<&BTreeSet<String>>,
    case: &Fields,
) -> bool {
    if agency == declared_by {
        return true;
    }
    granted.is_some_and(|fields| fields.contains(field)) && consent_names(case, agency)
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

    #[test]
    fn shared_copies_keep_versions_and_drop_what_consent_forbids() {
        use crate::ids::DeviceId;
        let at = |ms| Hlc {
            wall_ms: ms,
            counter: 0,
            device: DeviceId::from_bytes([3; 16]),
        };
        let mut state = RecordState::new(crate::merge::op::RecordKind::Case);
        for (key, value, ms) in [
            ("sex", json!("female"), 1),
            ("nationality", json!("ETH"), 2),
            ("given_name", json!("Amina"), 2),
            ("consent.data_sharing", json!("none"), 1),
            ("risk_level", serde_json::Value::Null, 3),
        ] {
            state
                .fields
                .insert(key.into(), crate::merge::FieldState { value, hlc: at(ms) });
        }
        let requested: BTreeSet<String> = ["sex", "nationality", "given_name", "risk_level"]
            .map(String::from)
            .into();
        let (allowed, copies) = shared_copies(&requested, &state, &agency("iom_eth"));
        assert_eq!(
            allowed,
            ["sex", "nationality", "risk_level"]
                .map(String::from)
                .into()
        );
        assert_eq!(copies.len(), 2, "one copy per version");
        assert_eq!(copies[&at(1)].keys().collect::<Vec<_>>(), ["sex"]);
        assert_eq!(
            copies[&at(2)].keys().collect::<Vec<_>>(),
            ["nationality"],
            "no name without consent, no cleared field"
        );
    }

    #[test]
    fn an_attachment_reaches_another_agency_only_through_its_field_and_consent() {
        let (a, b, c) = (agency("iom_uga"), agency("iom_eth"), agency("ngo_x"));
        let consent = |sharing: serde_json::Value| -> Fields {
            [("consent.data_sharing".to_owned(), sharing)].into()
        };
        let photo: BTreeSet<String> = ["photo".into(), "sex".into()].into();
        let sex_only: BTreeSet<String> = ["sex".into()].into();
        let named = consent(json!(["iom_eth"]));
        assert!(attachment_visible(&a, &a, "photo", None, &Fields::new()));
        assert!(
            !attachment_visible(&b, &a, "photo", None, &named),
            "no grant, not even as the new owner of a transferred case"
        );
        assert!(attachment_visible(&b, &a, "photo", Some(&photo), &named));
        assert!(!attachment_visible(
            &b,
            &a,
            "photo",
            Some(&sex_only),
            &named
        ));
        assert!(!attachment_visible(
            &b,
            &a,
            "photo",
            Some(&photo),
            &consent(json!("none"))
        ));
        assert!(!attachment_visible(&c, &a, "photo", Some(&photo), &named));
    }
}
