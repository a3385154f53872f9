//! Referrals: making one, applying the commands that move it, and reading its timeline.
//!
//! Making a referral (in the push that carries it): the referral record is addressed to both
//! agencies; a referral row holds its status; an access grant gives the receiving agency the
//! shared fields of the case from that position on; the server writes the first status
//! (`sent`) and appends copies of the case's shared fields as they stand, each keeping its
//! version, addressed to the receiving agency only. What a referral shares is what its
//! sender listed, narrowed to what the sender itself holds (`audience::held_fields`) — an
//! agency that received a case by transfer passes on only what it received and what it wrote
//! — and, at every delivery, to what the case's consent allows for the receiver.
//!
//! A command is a compare-and-set on the referral's status, followed by a server-authored
//! operation carrying the new status and history. Declined, cancelled and completed end the
//! receiving agency's access; an accepted transfer makes it the case's owner, after which new
//! operations on the case are addressed to it and no longer to the sender.

use super::audit::{self, Subject};
use super::push::merge_into_state;
use super::{audience, commands};
use crate::storage::port::{Audience, CaseAccess, ReferralRow, StoreTx, StoredRecord};
use crate::storage::{AuditEvent, DeviceAuth, Position, Storage, StorageError};
use fieldcase_core::protocol::{CommandOutcome, CommandResult, ReferralCommand, ReferralTimeline};
use fieldcase_core::referral::{
    shared_copies, HistoryEntry, Referral, ReferralStatus, ServerState,
};
use fieldcase_core::{FieldChange, Operation, RecordId, RecordKind};

/// Records a new referral and everything it sets in motion (see the module docs).
pub(super) fn create(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    op: &Operation,
    record: &StoredRecord,
    referral: &Referral,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.insert_record(op, record)?;
    merge_into_state(tx, op)?;
    let parties: [Audience; 2] = [
        (referral.from_agency.clone(), None),
        (referral.to_agency.clone(), None),
    ];
    let position = tx.append(op, &referral.from_agency, &parties)?;
    let case = tx
        .record_state(referral.case_id)?
        .unwrap_or_else(|| fieldcase_core::merge::RecordState::new(RecordKind::Case));
    let mut shared_fields = referral.shared_fields.clone();
    if let Some(held) = audience::held_fields(tx, referral.case_id, &referral.from_agency, &case)? {
        shared_fields.retain(|key| held.contains(key));
    }
    let row = ReferralRow {
        referral_id: op.record_id,
        case_id: referral.case_id,
        from_agency: referral.from_agency.clone(),
        to_agency: referral.to_agency.clone(),
        status: ReferralStatus::Sent,
        transfer: referral.transfer,
        share_back: referral.share_back,
        shared_fields,
    };
    tx.insert_referral(&row, now_ms)?;
    tx.grant_case_access(
        referral.case_id,
        &CaseAccess {
            agency: row.to_agency.clone(),
            referral_id: row.referral_id,
            fields: row.shared_fields.clone(),
            from: position,
            until: None,
        },
    )?;
    let created = HistoryEntry {
        status: ReferralStatus::Sent,
        transition: None,
        agency: device.agency.clone(),
        user: Some(device.user_id.clone()),
        at_ms: now_ms,
        reason: None,
    };
    let status = ServerState {
        status: Some(ReferralStatus::Sent),
        reason: None,
        history: vec![created],
    };
    write_status(tx, &row, &status, now_ms)?;
    deliver_shared_fields(tx, &row)?;
    super::attachment_records::deliver_to(tx, row.case_id, &row.to_agency)?;
    let detail = format!(
        "to {}{}",
        referral.to_agency,
        if referral.transfer { ", transfer" } else { "" }
    );
    audit::record(
        tx,
        AuditEvent::ReferralCreated,
        device,
        Subject {
            record: Some(op.record_id),
            first_position: Some(position),
            detail: Some(&detail),
            ..Subject::default()
        },
        now_ms,
    )
}

/// Writes the referral's status keys as a server-authored operation addressed to both
/// agencies; returns its position. Each key declares the version it replaces, so the
/// server's own earlier write is superseded, not kept as a conflict.
fn write_status(
    tx: &mut dyn StoreTx,
    row: &ReferralRow,
    status: &ServerState,
    now_ms: u64,
) -> Result<Position, StorageError> {
    let before = tx.record_state(row.referral_id)?;
    let fields = status
        .to_fields()
        .into_iter()
        .map(|(key, value)| {
            let seen = before
                .as_ref()
                .and_then(|s| s.version_of(&key))
                .into_iter()
                .collect();
            (key, FieldChange { value, seen })
        })
        .collect();
    let op = Operation {
        op_id: tx.server_op_id()?,
        kind: RecordKind::Referral,
        record_id: row.referral_id,
        hlc: tx.server_clock(now_ms)?,
        fields,
    };
    merge_into_state(tx, &op)?;
    let parties: [Audience; 2] = [
        (row.from_agency.clone(), None),
        (row.to_agency.clone(), None),
    ];
    tx.append(&op, &row.from_agency, &parties)
}

/// Appends copies of the case's shared fields as they stand, grouped by version (each copy
/// keeps the version of the write it copies, so re-delivery merges to nothing), addressed to
/// the receiving agency only, narrowed to what consent allows now.
fn deliver_shared_fields(tx: &mut dyn StoreTx, row: &ReferralRow) -> Result<(), StorageError> {
    let Some(case) = tx.record_state(row.case_id)? else {
        return Ok(());
    };
    let Some(owner) = tx.record(row.case_id)?.map(|r| r.owner_agency) else {
        return Ok(());
    };
    let (allowed, by_version) = shared_copies(&row.shared_fields, &case, &row.to_agency);
    let audience: [Audience; 1] = [(row.to_agency.clone(), Some(allowed))];
    for (hlc, fields) in by_version {
        let op = Operation {
            op_id: tx.server_op_id()?,
            kind: RecordKind::Case,
            record_id: row.case_id,
            hlc,
            fields,
        };
        tx.append(&op, &owner, &audience)?;
    }
    Ok(())
}

/// Applies a device's referral commands in order, in one transaction, following
/// [`commands::decide`]: each applied transition is a compare-and-set on the referral's
/// status, logged as a server-authored operation on the referral record and audited, with its
/// effects on access. Every command's result is stored under its id in the same transaction;
/// a command seen before gets the stored result again. Every command must be the device's own
/// (`InvalidPush` otherwise).
pub fn apply_commands(
    storage: &dyn Storage,
    device: &DeviceAuth,
    commands: &[ReferralCommand],
    now_ms: u64,
) -> Result<Vec<CommandResult>, StorageError> {
    crate::storage::write(storage, |tx| apply_in(tx, device, commands, now_ms))
}

fn apply_in(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    commands: &[ReferralCommand],
    now_ms: u64,
) -> Result<Vec<CommandResult>, StorageError> {
    let mut results = Vec::with_capacity(commands.len());
    for command in commands {
        if command.command_id.device != device.id {
            return Err(StorageError::InvalidPush(
                "a referral command of another device was sent",
            ));
        }
        if let Some(outcome) = tx.command_outcome(device.id, command.command_id.seq)? {
            results.push(CommandResult {
                command_id: command.command_id,
                outcome,
            });
            continue;
        }
        let row = tx.referral(command.referral_id)?;
        if row.is_none() && super::handoff::waits_for_case(tx, command.referral_id)? {
            // Handed over offline, its case not on the server yet: no answer, so the device
            // sends the command again once the referring phone has synced.
            continue;
        }
        let outcome = match (commands::decide(&device.agency, row.as_ref(), command), row) {
            (Ok(status), Some(row)) => {
                transition(tx, device, &row, command, status, now_ms)?;
                CommandOutcome::Applied { status }
            }
            (Ok(_), None) => {
                return Err(StorageError::Integrity(
                    "a command was decided for a referral that does not exist".into(),
                ))
            }
            (Err((code, current_status)), _) => {
                let detail = format!("{} refused: {code}", command.transition);
                audit::record(
                    tx,
                    AuditEvent::CommandRefused,
                    device,
                    Subject {
                        record: Some(command.referral_id),
                        detail: Some(&detail),
                        ..Subject::default()
                    },
                    now_ms,
                )?;
                CommandOutcome::Rejected {
                    code,
                    current_status,
                }
            }
        };
        tx.store_command_outcome(
            device.id,
            command.command_id.seq,
            command.referral_id,
            &outcome,
            now_ms,
        )?;
        results.push(CommandResult {
            command_id: command.command_id,
            outcome,
        });
    }
    Ok(results)
}

fn transition(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    row: &ReferralRow,
    command: &ReferralCommand,
    status: ReferralStatus,
    now_ms: u64,
) -> Result<(), StorageError> {
    // Compare-and-set: only from the status the decision was made on.
    if !tx.compare_and_set_referral_status(row.referral_id, row.status, status, now_ms)? {
        return Err(StorageError::Backend(
            "a referral's status changed under its compare-and-set".into(),
        ));
    }
    let values = tx
        .record_state(row.referral_id)?
        .map(|s| s.values())
        .unwrap_or_default();
    let mut server = ServerState::read(&values);
    server.history.push(HistoryEntry {
        status,
        transition: Some(command.transition),
        agency: device.agency.clone(),
        user: Some(device.user_id.clone()),
        at_ms: now_ms,
        reason: command.reason.clone(),
    });
    server.status = Some(status);
    server.reason = command.reason.clone();
    let position = write_status(tx, row, &server, now_ms)?;
    let ends_access = match status {
        ReferralStatus::Declined | ReferralStatus::Cancelled | ReferralStatus::Completed => true,
        ReferralStatus::Accepted if row.transfer => {
            // The case is the receiving agency's now: new operations go to it as owner, and
            // no longer to the sender (unless another open referral still gives it access).
            tx.set_record_owner(row.case_id, &row.to_agency)?;
            // Its flag for review, if any, goes with it.
            if let Some(mut review) = tx.case_review(row.case_id)? {
                review.agency = row.to_agency.clone();
                tx.set_case_review(row.case_id, Some(&review))?;
            }
            true
        }
        _ => false,
    };
    if ends_access {
        tx.end_case_access(row.referral_id, position)?;
    }
    let detail = format!("{}: {} -> {status}", command.transition, row.status);
    audit::record(
        tx,
        AuditEvent::ReferralTransition,
        device,
        Subject {
            record: Some(row.referral_id),
            first_position: Some(position),
            detail: Some(&detail),
            ..Subject::default()
        },
        now_ms,
    )
}

/// The timeline of a referral the device's agency is party to (`None` otherwise: unknown and
/// not-a-party look the same), auditing the read in the same transaction.
pub fn timeline(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
    now_ms: u64,
) -> Result<Option<ReferralTimeline>, StorageError> {
    crate::storage::write(storage, |tx| {
        let Some(row) = tx.referral(id)? else {
            return Ok(None);
        };
        if device.agency != row.from_agency && device.agency != row.to_agency {
            return Ok(None);
        }
        let values = tx.record_state(id)?.map(|s| s.values()).unwrap_or_default();
        audit::record(
            tx,
            AuditEvent::TimelineRead,
            device,
            Subject {
                record: Some(id),
                ..Subject::default()
            },
            now_ms,
        )?;
        Ok(Some(ReferralTimeline {
            referral_id: id,
            case_id: row.case_id,
            from_agency: row.from_agency,
            to_agency: row.to_agency,
            status: row.status,
            transfer: row.transfer,
            share_back: row.share_back,
            entries: ServerState::read(&values).history,
        }))
    })
}
