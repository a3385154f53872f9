//! Applying a device's push: the loop that skips what was processed, stops at a gap and
//! decides the rest under [`rules`], all in one transaction.
//!
//! For each operation in sequence order: at or below the device's `last_seq` it is skipped (a
//! retry); past `last_seq + 1` the push stops (a gap: the device resends the rest); otherwise
//! [`rules::decide`] says what to do, the operation is merged into its record's state with the
//! pure merge devices use, and appended addressed to the audiences [`audience`] computes. The
//! device's new `last_seq` commits with those effects or not at all. After an accepted
//! operation on a case, the merged case's flag for review is refreshed ([`review`]). Form
//! versions are read once per push ([`PushForms`]) and parsed once per process.

use super::form_versions::{self, PushForms};
use super::{audience, referrals, review, rules};
use crate::storage::port::{FieldMap, StoreTx, StoredRecord};
use crate::storage::{DeviceAuth, PushOutcome, Storage, StorageError};
use fieldcase_core::forms::{form_refs, FormDefinition, FormId};
use fieldcase_core::merge::{merged_state, RecordState};
use fieldcase_core::protocol::{RejectReason, Rejection, SERVER_DEVICE_ID};
use fieldcase_core::{AgencyCode, Operation, RecordId, RecordKind};
use rules::{Decision, RecordLookup, ReferralGrant};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Applies a device's operations in one transaction (see the module docs). Every operation
/// must be the device's own (`InvalidPush` otherwise; the caller checks first).
pub fn push(
    storage: &dyn Storage,
    device: &DeviceAuth,
    ops: &[Operation],
    now_ms: u64,
) -> Result<PushOutcome, StorageError> {
    if device.id == SERVER_DEVICE_ID {
        return Err(StorageError::InvalidPush(
            "the server's own device id cannot push",
        ));
    }
    crate::storage::write(storage, |tx| push_in(tx, device, ops, now_ms))
}

fn push_in(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    ops: &[Operation],
    now_ms: u64,
) -> Result<PushOutcome, StorageError> {
    let Some(progress) = tx.device_progress(device.id)? else {
        return Err(StorageError::NotFound("device"));
    };
    if progress.revoked {
        // Revoked between authentication and this transaction: nothing more is accepted.
        return Err(StorageError::DeviceRevoked);
    }
    let mut forms = PushForms::default();
    let mut outcome = PushOutcome {
        acked_through: progress.last_seq,
        ..PushOutcome::default()
    };
    for op in ops {
        if op.op_id.device != device.id {
            return Err(StorageError::InvalidPush(
                "an operation of another device was pushed",
            ));
        }
        let seq = op.op_id.seq;
        if seq <= outcome.acked_through {
            outcome.skipped += 1;
            continue;
        }
        if seq != outcome.acked_through + 1 {
            outcome.gap = true;
            break;
        }
        let mut lookup = Lookup {
            tx: &mut *tx,
            forms: &mut forms,
        };
        match rules::decide(&device.agency, op, now_ms, &mut lookup)? {
            Decision::Create(record) => {
                tx.insert_record(op, &record)?;
                apply(
                    tx,
                    &mut forms,
                    op,
                    &record.owner_agency,
                    record.case_id,
                    now_ms,
                )?;
                outcome.applied += 1;
            }
            Decision::CreateReferral { record, referral } => {
                referrals::create(tx, device, op, &record, &referral, now_ms)?;
                outcome.applied += 1;
            }
            Decision::Append { owner_agency } => {
                let case_id = tx.record(op.record_id)?.and_then(|r| r.case_id);
                apply(tx, &mut forms, op, &owner_agency, case_id, now_ms)?;
                outcome.applied += 1;
            }
            Decision::AlreadyRecorded => outcome.applied += 1,
            Decision::Reject(reason) => outcome.rejections.push(Rejection {
                op_id: op.op_id,
                reason,
            }),
        }
        outcome.acked_through = seq;
    }
    tx.set_device_progress(device.id, outcome.acked_through, now_ms)?;
    Ok(outcome)
}

/// Decides a referral operation handed over in a bundle exactly as if `signer` (the device
/// that made and signed it) had pushed it, and records the referral when the rules say so.
/// `None`: recorded now or before (the referring phone synced first); `Some`: refused, why.
pub(super) fn create_from_handoff(
    tx: &mut dyn StoreTx,
    signer: &DeviceAuth,
    op: &Operation,
    now_ms: u64,
) -> Result<Option<RejectReason>, StorageError> {
    let mut forms = PushForms::default();
    let mut lookup = Lookup {
        tx: &mut *tx,
        forms: &mut forms,
    };
    match rules::decide(&signer.agency, op, now_ms, &mut lookup)? {
        Decision::CreateReferral { record, referral } => {
            referrals::create(tx, signer, op, &record, &referral, now_ms)?;
            Ok(None)
        }
        Decision::AlreadyRecorded => Ok(None),
        Decision::Reject(reason) => Ok(Some(reason)),
        Decision::Create(_) | Decision::Append { .. } => Ok(Some(RejectReason::Invalid {
            detail: "a handed-over operation must create a referral".into(),
        })),
    }
}

/// Folds `op` into its record's stored state (and the facts derived from it); returns the
/// state after. The caller appends `op` to the log in the same transaction. A record's first
/// operation keeps no stored state: its state is that one operation, rebuilt from the log
/// when read — most cases are written once, and their state would double what they cost
/// at rest.
pub(super) fn merge_into_state(
    tx: &mut dyn StoreTx,
    op: &Operation,
) -> Result<RecordState, StorageError> {
    let before = tx.record_state(op.record_id)?;
    let first = before.is_none();
    let after = merged_state(before, op);
    tx.store_record_state(op.record_id, (!first).then_some(&after))?;
    tx.refresh_facts(op.record_id, &after)?;
    Ok(after)
}

/// Merges an accepted operation into its record's state and appends it, addressed; a case's
/// flag for review follows its merged state.
fn apply(
    tx: &mut dyn StoreTx,
    forms: &mut PushForms,
    op: &Operation,
    owner: &AgencyCode,
    case_id: Option<RecordId>,
    now_ms: u64,
) -> Result<(), StorageError> {
    let after = merge_into_state(tx, op)?;
    let audiences = audience::for_operation(tx, op, owner, case_id, &after)?;
    tx.append(op, owner, &audiences)?;
    if op.kind == RecordKind::Case {
        review::refresh(tx, forms, op, owner, &after.values(), now_ms)?;
    }
    Ok(())
}

/// The rules' view of records, read inside the push transaction (so an operation sees the
/// records the operations before it in the same batch created).
struct Lookup<'a> {
    tx: &'a mut dyn StoreTx,
    forms: &'a mut PushForms,
}

impl RecordLookup for Lookup<'_> {
    type Error = StorageError;

    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, StorageError> {
        self.tx.record(id)
    }

    fn creation_fields(&mut self, id: RecordId) -> Result<Option<FieldMap>, StorageError> {
        self.tx.creation_fields(id)
    }

    fn is_purged(&mut self, id: RecordId) -> Result<bool, StorageError> {
        self.tx.is_purged(id)
    }

    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, StorageError> {
        self.tx.agency_exists(agency)
    }

    fn form(
        &mut self,
        agency: &AgencyCode,
        id: &FormId,
        version: u32,
    ) -> Result<Option<Arc<FormDefinition>>, StorageError> {
        self.forms.get(&mut *self.tx, agency, id, version)
    }

    fn form_versions(
        &mut self,
        agency: &AgencyCode,
        id: &FormId,
    ) -> Result<Vec<u32>, StorageError> {
        form_versions::versions(&mut *self.tx, agency, id)
    }

    fn case_forms(&mut self, case: RecordId) -> Result<BTreeMap<FormId, u32>, StorageError> {
        Ok(self
            .tx
            .record_state(case)?
            .map(|state| form_refs(&state.values()).0)
            .unwrap_or_default())
    }

    fn referrals_to(
        &mut self,
        case: RecordId,
        agency: &AgencyCode,
    ) -> Result<Vec<ReferralGrant>, StorageError> {
        Ok(self
            .tx
            .referrals_of_case(case)?
            .into_iter()
            .filter(|r| &r.to_agency == agency)
            .map(|r| ReferralGrant {
                status: r.status,
                share_back: r.share_back,
            })
            .collect())
    }
}
