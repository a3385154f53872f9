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
//!   writes as another device's and so win last-writer-wins ties it should lose. Nor may it
//!   run more than [`MAX_CLOCK_AHEAD_MS`] ahead of the server's clock (`ClockAhead`): a clock
//!   stamped in the far future would win every tie for good.
//! - Record ids of the server's namespace (`RecordId::is_server_authored`: form versions) are never
//!   taken by a device: any device operation on one is `Forbidden`, whether the record exists
//!   or not, so a device can neither squat a form version before it is published nor learn
//!   whether it was.
//! - Field values are checked against the case model as a device checks its own writes: each
//!   value of a case operation on its own (rules between fields are not, since a merge of two
//!   valid edits may break one and must still be stored), a service or note whole. A service's
//!   `provider_agency` must be the pushing device's agency: a device cannot put its work in
//!   another agency's figures.
//! - A case operation's answers are checked against the form versions the resulting case
//!   names, with core's engine, for every rule a value breaks on its own ([`answers`]): after
//!   ownership (the forms are the owner's), so a refusal tells nothing of another agency's
//!   case. Rules between fields are the review flag's ([`crate::service::review`]).
//! - Everything an operation can be refused for on its own is decided before the record is
//!   looked up, so an operation refused for its content gets the same answer whether its
//!   record id is unknown or another agency's; of an operation valid on its own, an id of
//!   another agency's record is `Forbidden` and an unknown id creates a record. Device record
//!   ids are random (UUIDv7, 74 random bits) and server ids are refused up front, so this
//!   tells a device nothing about ids it was not given.

use fieldcase_core::forms::{FormDefinition, FormId};
use fieldcase_core::model::{Case, Date, Fields, Note, Service, ValidationErrors};
use fieldcase_core::protocol::{RejectReason, MAX_CLOCK_AHEAD_MS};
use fieldcase_core::referral::record::SERVER_KEYS;
use fieldcase_core::referral::{Referral, ReferralStatus};
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordId, RecordKind};
use std::collections::BTreeMap;
use std::sync::Arc;

mod answers;

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
    /// Whether the record was purged under its agency's retention period.
    fn is_purged(&mut self, id: RecordId) -> Result<bool, Self::Error>;
    /// Whether `agency` is an agency of this network.
    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, Self::Error>;
    /// The referrals of `case` addressed to `agency`.
    fn referrals_to(
        &mut self,
        case: RecordId,
        agency: &AgencyCode,
    ) -> Result<Vec<ReferralGrant>, Self::Error>;
    /// The form version `id`@`version` published for `agency`, parsed; `None` when it is not.
    fn form(
        &mut self,
        agency: &AgencyCode,
        id: &FormId,
        version: u32,
    ) -> Result<Option<Arc<FormDefinition>>, Self::Error>;
    /// Every version of form `id` published for `agency`.
    fn form_versions(&mut self, agency: &AgencyCode, id: &FormId) -> Result<Vec<u32>, Self::Error>;
    /// The forms case `case` names now (`forms.<id>` → version).
    fn case_forms(&mut self, case: RecordId) -> Result<BTreeMap<FormId, u32>, Self::Error>;
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

/// Decides what to do with `op`, pushed by a device of `agency` when the server's clock reads
/// `now_ms`.
pub fn decide<L: RecordLookup>(
    agency: &AgencyCode,
    op: &Operation,
    now_ms: u64,
    lookup: &mut L,
) -> Result<Decision, L::Error> {
    if let Some(refusal) = refuse_on_its_own(agency, op, now_ms) {
        return Ok(Decision::Reject(refusal));
    }
    let Some(today) = server_today(now_ms) else {
        return Ok(invalid("the server's clock is out of range"));
    };
    match lookup.record(op.record_id)? {
        None => {
            if let Some(refusal) = answers::refuse_answers(agency, op, false, today, lookup)? {
                return Ok(Decision::Reject(refusal));
            }
            decide_create(agency, op, lookup)
        }
        Some(existing) => {
            // Ownership first: nothing else about another agency's record is revealed.
            if existing.owner_agency != *agency {
                return Ok(Decision::Reject(RejectReason::Forbidden));
            }
            if lookup.is_purged(op.record_id)? {
                return Ok(Decision::Reject(RejectReason::Purged));
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
            if let Some(refusal) = answers::refuse_answers(agency, op, true, today, lookup)? {
                return Ok(Decision::Reject(refusal));
            }
            Ok(Decision::Append {
                owner_agency: existing.owner_agency,
            })
        }
    }
}

/// Why `op` is refused whatever the records hold, if it is: everything decided from the
/// operation alone, before any lookup (see the module docs on existence).
fn refuse_on_its_own(agency: &AgencyCode, op: &Operation, now_ms: u64) -> Option<RejectReason> {
    if op.hlc.device != op.op_id.device {
        return Some(invalid_reason(
            "hlc.d must be the device that made the operation",
        ));
    }
    if op.kind == RecordKind::Form {
        return Some(invalid_reason(
            "forms are published by an agency admin on the server, not written by devices",
        ));
    }
    if op.kind == RecordKind::Attachment {
        return Some(invalid_reason(
            "attachment records are written by the server when an upload completes, not by devices",
        ));
    }
    if op.record_id.is_server_authored() {
        return Some(RejectReason::Forbidden);
    }
    if op.hlc.wall_ms > now_ms.saturating_add(MAX_CLOCK_AHEAD_MS) {
        return Some(RejectReason::ClockAhead {
            op_time_ms: op.hlc.wall_ms,
            server_time_ms: now_ms,
        });
    }
    if op.kind == RecordKind::Referral && SERVER_KEYS.iter().any(|k| op.fields.contains_key(*k)) {
        return Some(invalid_reason(
            "a referral's status, status_reason and history are written only by the server",
        ));
    }
    let values = values_of(op);
    // "Today" is the server's: a date up to a day past it (time zones) is accepted, as on a
    // device.
    let Some(today) = server_today(now_ms) else {
        return Some(invalid_reason("the server's clock is out of range"));
    };
    let checked = match op.kind {
        RecordKind::Case => Case::parse_fields_as_of(&values, today).map(drop),
        RecordKind::Note => Note::from_fields_as_of(&values, today).map(drop),
        RecordKind::Service => match Service::from_fields_as_of(&values, today) {
            Ok(s) if s.provider_agency() != agency => {
                return Some(invalid_reason(
                    "provider_agency must be the agency of the device that records the service",
                ))
            }
            other => other.map(drop),
        },
        RecordKind::Referral => Referral::from_fields(&values).map(drop),
        RecordKind::Form | RecordKind::Attachment => Ok(()),
    };
    // Validation errors name keys and rules, never values.
    checked
        .err()
        .map(|errors: ValidationErrors| RejectReason::Invalid {
            detail: errors.to_string(),
        })
}

/// The server's date (UTC), `None` for a clock out of range.
pub(crate) fn server_today(now_ms: u64) -> Option<Date> {
    Date::from_days_since_epoch((now_ms / 86_400_000) as i64)
}

fn values_of(op: &Operation) -> Fields {
    op.fields
        .iter()
        .map(|(k, c)| (k.clone(), c.value.clone()))
        .collect()
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
        if lookup.is_purged(case_id)? {
            return Ok(Decision::Reject(RejectReason::Purged));
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
    let values = values_of(op);
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
    if lookup.is_purged(referral.case_id)? {
        return Ok(Decision::Reject(RejectReason::Purged));
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
    Decision::Reject(invalid_reason(detail))
}

fn invalid_reason(detail: &str) -> RejectReason {
    RejectReason::Invalid {
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests;
