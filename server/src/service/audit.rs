//! What the audit log says: every referral made or moved, every refused command, every
//! delivery of another agency's data to a device (shared fields in a pull, attachments, a
//! timeline), worded here once for every backend.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.
//!
//! Every entry is appended through [`append`], which links it to the chain's head
//! ([`super::audit_chain`]) inside the caller's transaction; [`checkpoint`] signs the head,
//! [`verify`] checks the whole chain, and [`trail`] reads the entries of one case or one user
//! within an admin's scope.

use super::audit_chain::{self, ExportedCheckpoint, VerifyReport};
use crate::storage::port::StoreTx;
use crate::storage::{
    AdminScope, AuditEntry, AuditEvent, AuditSelect, ChainedAuditEntry, Delivery, DeviceAuth,
    Position, Storage, StorageError,
};
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::BTreeSet;

/// Appends `entry` at the head of the chain, in the caller's transaction.
pub fn append(tx: &mut dyn StoreTx, entry: &AuditEntry) -> Result<(), StorageError> {
    let head = tx.audit_head()?;
    let link = audit_chain::next_link(head.as_ref(), entry);
    tx.append_audit(entry, &link, None)
}

/// What one entry says, beyond who and when.
#[derive(Default)]
pub(super) struct Subject<'a> {
    pub record: Option<RecordId>,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    pub ops: Option<u32>,
    pub detail: Option<&'a str>,
}

/// Appends one entry for an act of `device`.
pub(super) fn record(
    tx: &mut dyn StoreTx,
    event: AuditEvent,
    device: &DeviceAuth,
    subject: Subject<'_>,
    now_ms: u64,
) -> Result<(), StorageError> {
    append(
        tx,
        &AuditEntry {
            at_ms: now_ms,
            event,
            agency: device.agency.clone(),
            device: Some(device.id),
            user_id: Some(device.user_id.clone()),
            record_id: subject.record,
            first_position: subject.first_position,
            last_position: subject.last_position,
            ops: subject.ops,
            detail: subject.detail.map(str::to_owned),
        },
    )
}

/// Audits the shared data a pull is about to deliver to `device`, in one transaction.
pub fn record_deliveries(
    storage: &dyn Storage,
    device: &DeviceAuth,
    deliveries: &[Delivery],
    now_ms: u64,
) -> Result<(), StorageError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    crate::storage::write(storage, |tx| {
        for delivery in deliveries {
            record(
                tx,
                AuditEvent::SharedDelivery,
                device,
                Subject {
                    record: Some(delivery.record_id),
                    first_position: Some(delivery.first_position),
                    last_position: Some(delivery.last_position),
                    ops: Some(delivery.ops),
                    detail: None,
                },
                now_ms,
            )?;
        }
        Ok(())
    })
}

/// Signs the chain's head as a new `checkpoint` entry by `agency` (the acting admin's, or
/// the network's for the server's own periodic checkpoint) and returns it; `None` when the
/// chain is empty (nothing to vouch for). The periodic task asks [`needs_checkpoint`] first.
pub fn checkpoint(
    storage: &dyn Storage,
    agency: &AgencyCode,
    now_ms: u64,
) -> Result<Option<ChainedAuditEntry>, StorageError> {
    let key = storage.audit_signing_key();
    crate::storage::write(storage, |tx| {
        let Some(head) = tx.audit_head()? else {
            return Ok(None);
        };
        let entry = AuditEntry {
            at_ms: now_ms,
            event: AuditEvent::Checkpoint,
            agency: agency.clone(),
            device: None,
            user_id: None,
            record_id: None,
            first_position: None,
            last_position: None,
            ops: None,
            detail: None,
        };
        let link = audit_chain::next_link(Some(&head), &entry);
        let signature = audit_chain::sign_checkpoint(&key, &link);
        tx.append_audit(&entry, &link, Some(&signature))?;
        Ok(Some(ChainedAuditEntry {
            entry,
            seq: Some(link.seq),
            hash: Some(link.hash),
            signature: Some(signature),
        }))
    })
}

/// Whether the newest entry of the chain is not yet covered by a checkpoint.
pub fn needs_checkpoint(storage: &dyn Storage) -> Result<bool, StorageError> {
    let mut last_checkpoint = 0;
    storage.scan_audit(&AuditSelect::Checkpoints, &mut |c| {
        last_checkpoint = c.seq.unwrap_or(0)
    })?;
    let head = crate::storage::read(storage, |tx| tx.audit_head())?;
    Ok(head.is_some_and(|h| h.seq > last_checkpoint))
}

/// The agency code checkpoints the server makes are recorded under (they name no record and
/// no user, so they appear in no agency's trail).
pub const NETWORK_AGENCY: &str = "network";

/// Signs the chain's head now, for the whole network (an admin's request or the periodic
/// task), and returns the checkpoint as admins export it; `None` while the chain is empty.
pub fn checkpoint_now(
    storage: &dyn Storage,
    now_ms: u64,
) -> Result<Option<ExportedCheckpoint>, StorageError> {
    let network = AgencyCode::parse(NETWORK_AGENCY).expect("a valid agency code");
    let public = audit_chain::hex(storage.audit_signing_key().verifying_key().as_bytes());
    Ok(checkpoint(storage, &network, now_ms)?.and_then(|c| exported(&public, &c)))
}

fn exported(public_key_hex: &str, c: &ChainedAuditEntry) -> Option<ExportedCheckpoint> {
    Some(ExportedCheckpoint {
        seq: c.seq?,
        hash: audit_chain::hex(&c.hash?),
        at: crate::time::rfc3339(c.entry.at_ms),
        signature: audit_chain::hex(c.signature.as_deref().unwrap_or_default()),
        public_key: public_key_hex.to_owned(),
    })
}

/// Every checkpoint, as admins export them.
pub fn export_checkpoints(storage: &dyn Storage) -> Result<Vec<ExportedCheckpoint>, StorageError> {
    let public = audit_chain::hex(storage.audit_signing_key().verifying_key().as_bytes());
    let mut out = Vec::new();
    storage.scan_audit(&AuditSelect::Checkpoints, &mut |c| {
        out.extend(exported(&public, &c))
    })?;
    Ok(out)
}

/// Checks the whole chain, and that it passes through every `exported` checkpoint.
pub fn verify(
    storage: &dyn Storage,
    exported: &[ExportedCheckpoint],
) -> Result<VerifyReport, StorageError> {
    let public = storage.audit_signing_key().verifying_key();
    let mut verifier = audit_chain::ChainVerifier::new(&public, exported);
    storage.scan_audit(&AuditSelect::All, &mut |c| verifier.visit(&c))?;
    Ok(verifier.finish())
}

/// Whose audit trail an admin asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrailOf {
    /// A case: entries about it, its referrals and its attachments.
    Case(RecordId),
    /// A user: entries of that user's acts.
    User(String),
}

/// The audit trail of a case or a user as `scope` may read it, oldest first; `None` when a
/// user is unknown or outside the scope (answered like every other admin route: as if it did
/// not exist).
///
/// A system admin reads everything. An agency admin reads the acts of its own agency and,
/// for a case its agency owns, every act on it (which other agency's device received what of
/// it, and when): the owner answers for the case.
pub fn trail(
    storage: &dyn Storage,
    scope: &AdminScope,
    of: &TrailOf,
) -> Result<Option<Vec<ChainedAuditEntry>>, StorageError> {
    let mut out = Vec::new();
    match of {
        TrailOf::User(user) => {
            if storage.user(user, scope.agency())?.is_none() {
                return Ok(None);
            }
            storage.scan_audit(&AuditSelect::User(user.clone()), &mut |c| out.push(c))?;
        }
        TrailOf::Case(case) => {
            let (owner, records) = crate::storage::read(storage, |tx| {
                let owner = tx.record(*case)?.map(|r| r.owner_agency);
                let mut records = BTreeSet::from([*case]);
                records.extend(tx.referrals_of_case(*case)?.iter().map(|r| r.referral_id));
                records.extend(tx.case_attachment_list(*case)?.iter().map(|a| a.id));
                Ok((owner, records))
            })?;
            let sees_all = match scope.agency() {
                None => true,
                Some(own) => owner.as_ref() == Some(own),
            };
            for record in records {
                storage.scan_audit(&AuditSelect::Record(record), &mut |c| {
                    if sees_all || Some(&c.entry.agency) == scope.agency() {
                        out.push(c)
                    }
                })?;
            }
            out.sort_by_key(|c| c.seq.unwrap_or(u64::MAX));
        }
    }
    Ok(Some(out))
}
