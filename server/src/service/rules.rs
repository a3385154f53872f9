//! The rules a pushed operation must pass: pure decisions, no I/O.
//!
//! The push service ([`crate::service::push`]) calls [`decide`] for each operation inside its push transaction,
//! with a [`RecordLookup`] that reads that transaction (so an operation sees the records the
//! operations before it in the same batch created). Keeping the rules here means SQLite and
//! PostgreSQL apply the very same rules, and the rules are tested without a database.
//!
//! - The first operation on a record id creates the record, owned by the pushing device's
//!   agency. A service or note names its case in the `case_id` field; that case must exist and
//!   belong to the device's agency, or be referred to it by a referral it accepted (a case of
//!   another agency and a case that does not exist get the same answer, `Forbidden`).
//! - A referral is created once, by a device of the sending agency, about a case that agency
//!   owns, to another agency of the network; it must read as a [`Referral`]. Its status keys
//!   (`status`, `status_reason`, `history`) are the server's: an operation of a device that
//!   writes them is `Invalid`. The fields it shares are *not* checked against consent here:
//!   the server narrows what it delivers to what consent allows at delivery time, so a
//!   referral is never lost to a consent change that raced it.
//! - An operation on a record another agency owns is `Forbidden`.
//! - Service, note and referral records are written once: an operation on an existing one
//!   whose fields differ from the creation is `NotEditable`; an exact repeat is accepted and
//!   changes nothing.
//! - Form records are the server's (an admin publishes them): a device's operation on one is
//!   `Invalid`.
//! - An operation's clock must be its device's (`hlc.d == op_id.d`): a device cannot stamp
//!   writes as another device's and so win last-writer-wins ties it should lose.

use fieldcase_core::model::Fields;
use fieldcase_core::protocol::RejectReason;
use fieldcase_core::referral::record::SERVER_KEYS;
use fieldcase_core::referral::{Referral, ReferralStatus};
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordId, RecordKind};
use std::collections::BTreeMap;

/// The field of a service or note that names its case.
pub const CASE_ID_FIELD: &str = "case_id";

pub use crate::storage::port::StoredRecord;

/// A referral of a case to an agency, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferralGrant {
    pub status: ReferralStatus,
    pub share_back: bool,
}

/// Reads the push transaction's view of records.
pub trait RecordLookup {
    type Error;
    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, Self::Error>;
    /// The fields of the operation that created `id` (opened from its sealed payload).
    fn creation_fields(
        &mut self,
        id: RecordId,
    ) -> Result<Option<BTreeMap<String, FieldChange>>, Self::Error>;
    /// Whether `agency` is an agency of this network.
    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, Self::Error>;
    /// The referrals of `case` addressed to `agency`.
    fn referrals_to(
        &mut self,
        case: RecordId,
        agency: &AgencyCode,
    ) -> Result<Vec<ReferralGrant>, Self::Error>;
}

/// What to do with one operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Create the record, then append the operation to the log.
    Create(StoredRecord),
    /// Create a referral record: append it, record the referral and the access it grants,
    /// write its first status and deliver the shared fields to the receiving agency.
    CreateReferral {
        record: StoredRecord,
        referral: Box<Referral>,
    },
    /// Append the operation to the log of an existing record.
    Append { owner_agency: AgencyCode },
    /// An exact repeat of a write-once record's creation: processed, nothing to store.
    AlreadyRecorded,
    /// Refuse it; it still counts as processed.
    Reject(RejectReason),
}

/// Decides what to do with `op`, pushed by a device of `agency`.
pub fn decide<L: RecordLookup>(
    agency: &AgencyCode,
    op: &Operation,
    lookup: &mut L,
) -> Result<Decision, L::Error> {
    if op.hlc.device != op.op_id.device {
        return Ok(invalid("hlc.d must be the device that made the operation"));
    }
    if op.kind == RecordKind::Form {
        return Ok(invalid(
            "forms are published by an agency admin on the server, not written by devices",
        ));
    }
    if op.kind == RecordKind::Referral && SERVER_KEYS.iter().any(|k| op.fields.contains_key(*k)) {
        return Ok(invalid(
            "a referral's status, status_reason and history are written only by the server",
        ));
    }
    match lookup.record(op.record_id)? {
        None => decide_create(agency, op, lookup),
        Some(existing) => {
            // Ownership first: nothing else about another agency's record is revealed.
            if existing.owner_agency != *agency {
                return Ok(Decision::Reject(RejectReason::Forbidden));
            }
            if existing.kind != op.kind {
                return Ok(invalid("kind differs from the record's kind"));
            }
            if written_once(op.kind) {
                let same = lookup
                    .creation_fields(op.record_id)?
                    .is_some_and(|created| same_values(&created, &op.fields));
                return Ok(if same {
                    Decision::AlreadyRecorded
                } else {
                    Decision::Reject(RejectReason::NotEditable)
                });
            }
            Ok(Decision::Append {
                owner_agency: existing.owner_agency,
            })
        }
    }
}

/// Records a device writes once and never edits.
fn written_once(kind: RecordKind) -> bool {
    kind.is_append_only() || kind == RecordKind::Referral
}

fn decide_create<L: RecordLookup>(
    agency: &AgencyCode,
    op: &Operation,
    lookup: &mut L,
) -> Result<Decision, L::Error> {
    if op.kind == RecordKind::Referral {
        return decide_referral(agency, op, lookup);
    }
    let case_id = if op.kind.is_append_only() {
        let Some(case_id) = case_id_of(op) else {
            return Ok(invalid("case_id is required and must be a record id"));
        };
        let allowed = match lookup.record(case_id)? {
            Some(case) if case.kind == RecordKind::Case && case.owner_agency == *agency => true,
            Some(case) if case.kind == RecordKind::Case => lookup
                .referrals_to(case_id, agency)?
                .iter()
                .any(|r| r.status == ReferralStatus::Accepted),
            _ => false,
        };
        if !allowed {
            return Ok(Decision::Reject(RejectReason::Forbidden));
        }
        Some(case_id)
    } else {
        None
    };
    Ok(Decision::Create(StoredRecord {
        kind: op.kind,
        owner_agency: agency.clone(),
        case_id,
    }))
}

fn decide_referral<L: RecordLookup>(
    agency: &AgencyCode,
    op: &Operation,
    lookup: &mut L,
) -> Result<Decision, L::Error> {
    let values: Fields = op
        .fields
        .iter()
        .map(|(k, c)| (k.clone(), c.value.clone()))
        .collect();
    let referral = match Referral::from_fields(&values) {
        Ok(referral) => referral,
        // Validation errors name keys and rules, never values.
        Err(errors) => {
            return Ok(Decision::Reject(RejectReason::Invalid {
                detail: errors.to_string(),
            }))
        }
    };
    if referral.from_agency != *agency {
        return Ok(invalid("from_agency must be the agency of the device"));
    }
    match lookup.record(referral.case_id)? {
        Some(case) if case.kind == RecordKind::Case && case.owner_agency == *agency => {}
        _ => return Ok(Decision::Reject(RejectReason::Forbidden)),
    }
    if !lookup.agency_exists(&referral.to_agency)? {
        return Ok(invalid("to_agency is not an agency of this network"));
    }
    Ok(Decision::CreateReferral {
        record: StoredRecord {
            kind: RecordKind::Referral,
            owner_agency: agency.clone(),
            case_id: Some(referral.case_id),
        },
        referral: Box::new(referral),
    })
}

fn case_id_of(op: &Operation) -> Option<RecordId> {
    op.fields.get(CASE_ID_FIELD)?.value.as_str()?.parse().ok()
}

/// Same keys with the same values (the `seen` lists are merge bookkeeping, not content).
fn same_values(a: &BTreeMap<String, FieldChange>, b: &BTreeMap<String, FieldChange>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && va.value == vb.value)
}

fn invalid(detail: &str) -> Decision {
    Decision::Reject(RejectReason::Invalid {
        detail: detail.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::{DeviceId, Hlc, OpId};
    use std::collections::HashMap;
    use std::convert::Infallible;

    #[derive(Default)]
    struct Records {
        records: HashMap<RecordId, StoredRecord>,
        created: HashMap<RecordId, BTreeMap<String, FieldChange>>,
        referrals: HashMap<(RecordId, AgencyCode), Vec<ReferralGrant>>,
    }

    impl RecordLookup for Records {
        type Error = Infallible;
        fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, Infallible> {
            Ok(self.records.get(&id).cloned())
        }
        fn creation_fields(
            &mut self,
            id: RecordId,
        ) -> Result<Option<BTreeMap<String, FieldChange>>, Infallible> {
            Ok(self.created.get(&id).cloned())
        }
        fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, Infallible> {
            Ok(agency.as_str() != "nowhere")
        }
        fn referrals_to(
            &mut self,
            case: RecordId,
            agency: &AgencyCode,
        ) -> Result<Vec<ReferralGrant>, Infallible> {
            Ok(self
                .referrals
                .get(&(case, agency.clone()))
                .cloned()
                .unwrap_or_default())
        }
    }

    fn agency(code: &str) -> AgencyCode {
        AgencyCode::parse(code).unwrap()
    }

    fn op(kind: RecordKind, record: RecordId, fields: &[(&str, serde_json::Value)]) -> Operation {
        let device = DeviceId::from_bytes([1; 16]);
        Operation {
            op_id: OpId { device, seq: 1 },
            kind,
            record_id: record,
            hlc: Hlc {
                wall_ms: 1,
                counter: 0,
                device,
            },
            fields: fields
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        FieldChange {
                            value: v.clone(),
                            seen: vec![],
                        },
                    )
                })
                .collect(),
        }
    }

    fn decide_now(records: &mut Records, agency_code: &str, op: &Operation) -> Decision {
        match decide(&agency(agency_code), op, records) {
            Ok(decision) => decision,
            Err(never) => match never {},
        }
    }

    fn with_case(owner: &str) -> (Records, RecordId) {
        let mut records = Records::default();
        let case = RecordId::new();
        records.records.insert(
            case,
            StoredRecord {
                kind: RecordKind::Case,
                owner_agency: agency(owner),
                case_id: None,
            },
        );
        (records, case)
    }

    #[test]
    fn a_new_case_is_created_for_the_device_agency() {
        let mut records = Records::default();
        let new_case = op(
            RecordKind::Case,
            RecordId::new(),
            &[("sex", "female".into())],
        );
        assert_eq!(
            decide_now(&mut records, "a_ngo", &new_case),
            Decision::Create(StoredRecord {
                kind: RecordKind::Case,
                owner_agency: agency("a_ngo"),
                case_id: None
            })
        );
    }

    #[test]
    fn another_agency_record_is_forbidden_whatever_the_kind() {
        let (mut records, case) = with_case("b_ngo");
        assert_eq!(
            decide_now(&mut records, "a_ngo", &op(RecordKind::Case, case, &[])),
            Decision::Reject(RejectReason::Forbidden)
        );
        assert_eq!(
            decide_now(&mut records, "a_ngo", &op(RecordKind::Note, case, &[])),
            Decision::Reject(RejectReason::Forbidden)
        );
    }

    #[test]
    fn a_service_needs_a_case_of_the_device_agency() {
        let (mut records, case) = with_case("b_ngo");
        let service = |case: &str| {
            op(
                RecordKind::Service,
                RecordId::new(),
                &[(CASE_ID_FIELD, case.into())],
            )
        };
        let foreign = decide_now(&mut records, "a_ngo", &service(&case.to_string()));
        let missing = decide_now(
            &mut records,
            "a_ngo",
            &service(&RecordId::new().to_string()),
        );
        assert_eq!(foreign, Decision::Reject(RejectReason::Forbidden));
        assert_eq!(
            foreign, missing,
            "a foreign case must look like a missing one"
        );
        assert!(matches!(
            decide_now(&mut records, "a_ngo", &service("not an id")),
            Decision::Reject(RejectReason::Invalid { .. })
        ));
        assert!(matches!(
            decide_now(&mut records, "b_ngo", &service(&case.to_string())),
            Decision::Create(StoredRecord { case_id: Some(c), .. }) if c == case
        ));
    }

    #[test]
    fn append_only_records_accept_only_exact_repeats() {
        let (mut records, case) = with_case("a_ngo");
        let note = RecordId::new();
        let fields = [
            (CASE_ID_FIELD, serde_json::Value::from(case.to_string())),
            ("text", "first".into()),
        ];
        let created = op(RecordKind::Note, note, &fields);
        records.records.insert(
            note,
            StoredRecord {
                kind: RecordKind::Note,
                owner_agency: agency("a_ngo"),
                case_id: Some(case),
            },
        );
        records.created.insert(note, created.fields.clone());
        assert_eq!(
            decide_now(&mut records, "a_ngo", &created),
            Decision::AlreadyRecorded
        );
        let edit = op(
            RecordKind::Note,
            note,
            &[fields[0].clone(), ("text", "changed".into())],
        );
        assert_eq!(
            decide_now(&mut records, "a_ngo", &edit),
            Decision::Reject(RejectReason::NotEditable)
        );
    }

    #[test]
    fn a_kind_change_and_a_borrowed_clock_are_invalid() {
        let (mut records, case) = with_case("a_ngo");
        assert!(matches!(
            decide_now(&mut records, "a_ngo", &op(RecordKind::Referral, case, &[])),
            Decision::Reject(RejectReason::Invalid { .. })
        ));
        let mut borrowed = op(RecordKind::Case, case, &[]);
        borrowed.hlc.device = DeviceId::from_bytes([9; 16]);
        assert!(matches!(
            decide_now(&mut records, "a_ngo", &borrowed),
            Decision::Reject(RejectReason::Invalid { .. })
        ));
    }

    fn referral_fields(
        case: RecordId,
        from: &str,
        to: &str,
    ) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("case_id", case.to_string().into()),
            ("from_agency", from.into()),
            ("to_agency", to.into()),
            ("services", serde_json::json!(["shelter"])),
            ("reason", "needs a bed".into()),
            ("urgency", "high".into()),
            ("shared_fields", serde_json::json!(["sex", "given_name"])),
            ("transfer", false.into()),
            ("share_back", true.into()),
            ("created_by", "u-1".into()),
            ("created_on", "2026-01-05".into()),
        ]
    }

    #[test]
    fn a_referral_is_made_by_the_case_owner_to_a_known_agency() {
        let (mut records, case) = with_case("a_ngo");
        let new = op(
            RecordKind::Referral,
            RecordId::new(),
            &referral_fields(case, "a_ngo", "b_ngo"),
        );
        match decide_now(&mut records, "a_ngo", &new) {
            Decision::CreateReferral { record, referral } => {
                assert_eq!(record.case_id, Some(case));
                assert_eq!(record.owner_agency, agency("a_ngo"));
                assert!(
                    referral.shared_fields.contains("given_name"),
                    "consent is applied when delivering, not here"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide_now(&mut records, "b_ngo", &{
                let mut o = new.clone();
                o.fields = op(
                    RecordKind::Referral,
                    new.record_id,
                    &referral_fields(case, "b_ngo", "a_ngo"),
                )
                .fields;
                o
            }),
            Decision::Reject(RejectReason::Forbidden),
            "only the owner of the case refers it"
        );
        let spoofed = op(
            RecordKind::Referral,
            RecordId::new(),
            &referral_fields(case, "c_ngo", "b_ngo"),
        );
        assert!(matches!(
            decide_now(&mut records, "a_ngo", &spoofed),
            Decision::Reject(RejectReason::Invalid { .. })
        ));
        let nowhere = op(
            RecordKind::Referral,
            RecordId::new(),
            &referral_fields(case, "a_ngo", "nowhere"),
        );
        assert!(matches!(
            decide_now(&mut records, "a_ngo", &nowhere),
            Decision::Reject(RejectReason::Invalid { .. })
        ));
        let mut with_status = referral_fields(case, "a_ngo", "b_ngo");
        with_status.push(("status", "accepted".into()));
        let forged = op(RecordKind::Referral, RecordId::new(), &with_status);
        match decide_now(&mut records, "a_ngo", &forged) {
            Decision::Reject(RejectReason::Invalid { detail }) => {
                assert!(detail.contains("only by the server"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_receiving_agency_adds_services_only_after_accepting() {
        let (mut records, case) = with_case("a_ngo");
        let service = op(
            RecordKind::Service,
            RecordId::new(),
            &[(CASE_ID_FIELD, case.to_string().into())],
        );
        assert_eq!(
            decide_now(&mut records, "b_ngo", &service),
            Decision::Reject(RejectReason::Forbidden)
        );
        records.referrals.insert(
            (case, agency("b_ngo")),
            vec![ReferralGrant {
                status: ReferralStatus::Sent,
                share_back: true,
            }],
        );
        assert_eq!(
            decide_now(&mut records, "b_ngo", &service),
            Decision::Reject(RejectReason::Forbidden),
            "not before accepting"
        );
        records.referrals.insert(
            (case, agency("b_ngo")),
            vec![ReferralGrant {
                status: ReferralStatus::Accepted,
                share_back: false,
            }],
        );
        assert!(matches!(
            decide_now(&mut records, "b_ngo", &service),
            Decision::Create(StoredRecord { owner_agency, .. }) if owner_agency == agency("b_ngo")
        ));
    }
}
