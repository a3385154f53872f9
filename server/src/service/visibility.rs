//! Who may see what: the one place that decides how much of a logged operation reaches a
//! device.
//!
//! When an operation is appended, storage addresses it to the agencies that may pull it
//! (`op_audience`): the owner of the record, and for a case referred to another agency, that
//! agency with the list of fields the referral shares. A pull range-scans the rows addressed
//! to the device's agency and asks [`visible_to`] about each one, so a query that selected
//! too much, or a list that names too much, can never leak:
//!
//! - a row addressed to another agency: nothing;
//! - a record the device's agency owned when the operation was written: everything (an agency
//!   keeps what it recorded, even after transferring the case away);
//! - a case of another agency: only the listed fields that the case's consent *now* allows
//!   for this agency ([`fieldcase_core::referral::shareable`]) — identifying fields need
//!   consent naming the agency, whatever the list says, and consent withdrawn later stops them;
//! - a referral between the two agencies, or a service or note the receiving agency shared
//!   back: everything (the audience row is the grant; such rows carry no field list).
//!
//! The rules about *which* agencies a row is addressed to live in [`crate::service::audience`];
//! this module is the last word on what leaves the server.

use fieldcase_core::model::Fields;
use fieldcase_core::referral::shareable;
use fieldcase_core::{AgencyCode, RecordKind};
use std::collections::BTreeSet;

/// One logged operation as addressed to one agency, without its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressed<'a> {
    pub kind: RecordKind,
    /// The record's owner when the operation was written.
    pub owner_agency: &'a AgencyCode,
    /// The agency the row is addressed to.
    pub audience: &'a AgencyCode,
    /// The fields the audience may see; `None` for every field.
    pub fields: Option<&'a BTreeSet<String>>,
}

/// How much of an operation a device may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every field.
    Full,
    /// Only these fields; an operation left with none is not sent.
    Fields(BTreeSet<String>),
    /// Nothing, not even that the record exists.
    None,
}

/// The visibility of an addressed operation to a device of `device_agency`. `case` is the
/// current merged state of the case when the operation is on a case of another agency (its
/// consent decides what identifying fields may go); `None` counts as no consent.
pub fn visible_to(
    device_agency: &AgencyCode,
    row: &Addressed<'_>,
    case: Option<&Fields>,
) -> Visibility {
    if row.audience != device_agency {
        return Visibility::None;
    }
    if row.owner_agency == device_agency {
        return Visibility::Full;
    }
    match (row.kind, row.fields) {
        (RecordKind::Case, Some(listed)) => {
            let empty = Fields::new();
            Visibility::Fields(shareable(listed, case.unwrap_or(&empty), device_agency))
        }
        // A whole case of another agency is never addressed to anyone.
        (RecordKind::Case, None) => Visibility::None,
        (RecordKind::Referral | RecordKind::Service | RecordKind::Note, None) => Visibility::Full,
        (RecordKind::Referral | RecordKind::Service | RecordKind::Note, Some(listed)) => {
            Visibility::Fields(listed.clone())
        }
        (RecordKind::Form, _) => Visibility::None,
        // Another agency's attachment record: only through the attachment rule, which the
        // pull asks (`service::attachment_records::visible`); never on an address alone.
        (RecordKind::Attachment, _) => Visibility::None,
    }
}

/// Whether a device of `device_agency` may see an attachment: the rule lives in core
/// ([`fieldcase_core::referral::attachment_visible`]) because a phone making a handoff bundle
/// applies it too. (Whether the grantor itself could see it is checked by
/// [`crate::service::attachments`], walking the chain of grants.)
pub use fieldcase_core::referral::attachment_visible;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agency(code: &str) -> AgencyCode {
        AgencyCode::parse(code).unwrap()
    }

    #[test]
    fn an_agency_sees_its_own_records_and_nothing_addressed_elsewhere() {
        let a = agency("iom_uga");
        let b = agency("shelter_b");
        for kind in RecordKind::ALL {
            let own = Addressed {
                kind,
                owner_agency: &a,
                audience: &a,
                fields: None,
            };
            assert_eq!(visible_to(&a, &own, None), Visibility::Full);
            assert_eq!(visible_to(&b, &own, None), Visibility::None);
        }
    }

    #[test]
    fn a_referred_case_shows_only_listed_fields_that_consent_allows_now() {
        let a = agency("iom_uga");
        let b = agency("iom_eth");
        let listed: BTreeSet<String> = ["sex".into(), "given_name".into()].into();
        let row = Addressed {
            kind: RecordKind::Case,
            owner_agency: &a,
            audience: &b,
            fields: Some(&listed),
        };
        let consent = |sharing: serde_json::Value| -> Fields {
            [("consent.data_sharing".to_owned(), sharing)].into()
        };
        assert_eq!(
            visible_to(&b, &row, Some(&consent(json!(["iom_eth"])))),
            Visibility::Fields(listed.clone())
        );
        let only_sex = Visibility::Fields(["sex".to_owned()].into());
        assert_eq!(
            visible_to(&b, &row, Some(&consent(json!("none")))),
            only_sex
        );
        assert_eq!(visible_to(&b, &row, None), only_sex);
        let whole = Addressed {
            fields: None,
            ..row.clone()
        };
        assert_eq!(visible_to(&b, &whole, None), Visibility::None);
        assert_eq!(
            visible_to(&a, &row, None),
            Visibility::None,
            "a row addressed to B is not A's"
        );
    }

    #[test]
    fn referrals_and_shared_back_records_are_whole() {
        let a = agency("iom_uga");
        let b = agency("iom_eth");
        for kind in [RecordKind::Referral, RecordKind::Service, RecordKind::Note] {
            let row = Addressed {
                kind,
                owner_agency: &a,
                audience: &b,
                fields: None,
            };
            assert_eq!(visible_to(&b, &row, None), Visibility::Full);
        }
        let form = Addressed {
            kind: RecordKind::Form,
            owner_agency: &a,
            audience: &b,
            fields: None,
        };
        assert_eq!(visible_to(&b, &form, None), Visibility::None);
    }
}
