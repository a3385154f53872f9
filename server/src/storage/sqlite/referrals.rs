//! Referrals in SQLite: who each operation is addressed to, making a referral, applying
//! referral commands, and a referral's timeline.
//!
//! Making a referral (in the push that carries it): the referral record is addressed to both
//! agencies; a `referrals` row holds its status; a `case_access` row gives the receiving
//! agency the shared fields of the case from that position on; the server writes the first
//! status (`sent`) and appends copies of the case's shared fields as they stand, each keeping
//! its version, addressed to the receiving agency only.
//!
//! A command is a compare-and-set on `referrals.status`, followed by a server-authored
//! operation carrying the new status and history. Declined, cancelled and completed end the
//! receiving agency's access; an accepted transfer makes it the case's owner, after which new
//! operations on the case are addressed to it and no longer to the sender.

use super::audit::{self, Subject};
use super::state::{
    append, load_state, merge_into_state, record_col, server_clock, server_op_id, Audience,
};
use super::{agency_col, backend, to_sql_ms};
use crate::seal::Sealer;
use crate::storage::{AuditEvent, DeviceAuth, Position, StorageError};
use crate::sync::commands::{self, ReferralRow};
use crate::sync::rules::{ReferralGrant, StoredRecord};
use fieldcase_core::merge::RecordState;
use fieldcase_core::protocol::{CommandOutcome, CommandResult, ReferralCommand, ReferralTimeline};
use fieldcase_core::referral::{shareable, HistoryEntry, Referral, ReferralStatus, ServerState};
use fieldcase_core::{AgencyCode, FieldChange, Hlc, Operation, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};

fn status_col(text: &str) -> Result<ReferralStatus, StorageError> {
    ReferralStatus::parse(text)
        .ok_or_else(|| StorageError::Integrity("unknown referral status".into()))
}

pub(super) fn referral_row(
    tx: &Transaction<'_>,
    id: RecordId,
) -> Result<Option<ReferralRow>, StorageError> {
    let row = tx
        .query_row(
            "SELECT case_id, from_agency, to_agency, status, transfer, share_back, shared_fields
             FROM referrals WHERE referral_id = ?1",
            [id.as_bytes()],
            |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    agency_col(row.get(1)?)?,
                    agency_col(row.get(2)?)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, bool>(4)?,
                    row.get::<_, bool>(5)?,
                    row.get::<_, String>(6)?,
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    let Some((case_id, from, to, status, transfer, share_back, shared)) = row else {
        return Ok(None);
    };
    Ok(Some(ReferralRow {
        referral_id: id,
        case_id: record_col(case_id)?,
        from_agency: from,
        to_agency: to,
        status: status_col(&status)?,
        transfer,
        share_back,
        shared_fields: serde_json::from_str(&shared)
            .map_err(|_| StorageError::Integrity("referrals.shared_fields is not a list".into()))?,
    }))
}

pub(super) fn referrals_to(
    tx: &Transaction<'_>,
    case: RecordId,
    agency: &AgencyCode,
) -> Result<Vec<ReferralGrant>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT status, share_back FROM referrals WHERE case_id = ?1 AND to_agency = ?2",
        )
        .map_err(backend)?;
    let rows: Vec<(String, bool)> = stmt
        .query_map(params![case.as_bytes(), agency.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(backend)?;
    rows.into_iter()
        .map(|(status, share_back)| {
            Ok(ReferralGrant {
                status: status_col(&status)?,
                share_back,
            })
        })
        .collect()
}

fn owner_of(tx: &Transaction<'_>, record: RecordId) -> Result<Option<AgencyCode>, StorageError> {
    tx.query_row(
        "SELECT owner_agency FROM records WHERE record_id = ?1",
        [record.as_bytes()],
        |row| agency_col(row.get(0)?),
    )
    .optional()
    .map_err(backend)
}

/// Who a device's operation on an existing or new record (not a referral: those are
/// addressed when made) is addressed to: the record's owner, every agency with open access to
/// the case for the fields of this operation its consent allows now, and, for a service or
/// note of a receiving agency, the sending agency when the referral shares back.
pub(super) fn audiences_for(
    tx: &Transaction<'_>,
    op: &Operation,
    owner: &AgencyCode,
    case_id: Option<RecordId>,
    after: &RecordState,
) -> Result<Vec<Audience>, StorageError> {
    let mut audiences: Vec<Audience> = vec![(owner.clone(), None)];
    match op.kind {
        RecordKind::Case => {
            let values = after.values();
            for (agency, listed) in open_access(tx, op.record_id)? {
                if &agency == owner {
                    continue;
                }
                let allowed = shareable(&listed, &values, &agency);
                if op.fields.keys().any(|k| allowed.contains(k)) {
                    audiences.push((agency, Some(allowed)));
                }
            }
        }
        RecordKind::Service | RecordKind::Note => {
            let Some(case_id) = case_id else {
                return Ok(audiences);
            };
            let mut stmt = tx
                .prepare_cached(
                    "SELECT from_agency FROM referrals
                     WHERE case_id = ?1 AND to_agency = ?2 AND status = 'accepted'
                       AND share_back = 1",
                )
                .map_err(backend)?;
            let senders: Vec<String> = stmt
                .query_map(params![case_id.as_bytes(), owner.as_str()], |row| {
                    row.get(0)
                })
                .and_then(|rows| rows.collect())
                .map_err(backend)?;
            for sender in senders {
                audiences.push((agency_col(sender).map_err(backend)?, None));
            }
        }
        RecordKind::Referral | RecordKind::Form => {}
    }
    Ok(audiences)
}

/// Agencies with open access to a case, each with the union of the fields its referrals list.
pub(super) fn open_access(
    tx: &Transaction<'_>,
    case: RecordId,
) -> Result<BTreeMap<AgencyCode, BTreeSet<String>>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT agency, fields FROM case_access
             WHERE case_id = ?1 AND until_position IS NULL",
        )
        .map_err(backend)?;
    let rows: Vec<(String, String)> = stmt
        .query_map([case.as_bytes()], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(backend)?;
    let mut access: BTreeMap<AgencyCode, BTreeSet<String>> = BTreeMap::new();
    for (agency, fields) in rows {
        let fields: BTreeSet<String> = serde_json::from_str(&fields)
            .map_err(|_| StorageError::Integrity("case_access.fields is not a list".into()))?;
        access
            .entry(agency_col(agency).map_err(backend)?)
            .or_default()
            .extend(fields);
    }
    Ok(access)
}

/// Records a new referral and everything it sets in motion (see the module docs).
pub(super) fn create(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    op: &Operation,
    record: &StoredRecord,
    referral: &Referral,
    now_ms: u64,
) -> Result<(), StorageError> {
    super::oplog::insert_record(tx, op, record)?;
    merge_into_state(tx, sealer, op)?;
    let parties: [Audience; 2] = [
        (referral.from_agency.clone(), None),
        (referral.to_agency.clone(), None),
    ];
    let position = append(tx, sealer, op, &referral.from_agency, &parties)?;
    let shared = serde_json::to_string(&referral.shared_fields).expect("lists serialize");
    tx.execute(
        "INSERT INTO referrals
           (referral_id, case_id, from_agency, to_agency, status, transfer, share_back,
            shared_fields, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'sent', ?5, ?6, ?7, ?8, ?8)",
        params![
            op.record_id.as_bytes(),
            referral.case_id.as_bytes(),
            referral.from_agency.as_str(),
            referral.to_agency.as_str(),
            referral.transfer,
            referral.share_back,
            shared,
            to_sql_ms(now_ms),
        ],
    )
    .map_err(backend)?;
    tx.execute(
        "INSERT INTO case_access (case_id, agency, referral_id, fields, from_position)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            referral.case_id.as_bytes(),
            referral.to_agency.as_str(),
            op.record_id.as_bytes(),
            shared,
            to_sql_ms(position),
        ],
    )
    .map_err(backend)?;
    let row = ReferralRow {
        referral_id: op.record_id,
        case_id: referral.case_id,
        from_agency: referral.from_agency.clone(),
        to_agency: referral.to_agency.clone(),
        status: ReferralStatus::Sent,
        transfer: referral.transfer,
        share_back: referral.share_back,
        shared_fields: referral.shared_fields.clone(),
    };
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
    write_status(tx, sealer, &row, &status, now_ms)?;
    deliver_shared_fields(tx, sealer, &row)?;
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
    tx: &Transaction<'_>,
    sealer: &Sealer,
    row: &ReferralRow,
    status: &ServerState,
    now_ms: u64,
) -> Result<Position, StorageError> {
    let before = load_state(tx, sealer, row.referral_id)?;
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
        op_id: server_op_id(tx)?,
        kind: RecordKind::Referral,
        record_id: row.referral_id,
        hlc: server_clock(tx, now_ms)?,
        fields,
    };
    merge_into_state(tx, sealer, &op)?;
    let parties: [Audience; 2] = [
        (row.from_agency.clone(), None),
        (row.to_agency.clone(), None),
    ];
    append(tx, sealer, &op, &row.from_agency, &parties)
}

/// Appends copies of the case's shared fields as they stand, grouped by version (each copy
/// keeps the version of the write it copies, so re-delivery merges to nothing), addressed to
/// the receiving agency only, narrowed to what consent allows now.
fn deliver_shared_fields(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    row: &ReferralRow,
) -> Result<(), StorageError> {
    let Some(case) = load_state(tx, sealer, row.case_id)? else {
        return Ok(());
    };
    let Some(owner) = owner_of(tx, row.case_id)? else {
        return Ok(());
    };
    let allowed = shareable(&row.shared_fields, &case.values(), &row.to_agency);
    let mut by_version: BTreeMap<Hlc, BTreeMap<String, FieldChange>> = BTreeMap::new();
    for (key, field) in &case.fields {
        if allowed.contains(key) && !field.value.is_null() {
            by_version.entry(field.hlc).or_default().insert(
                key.clone(),
                FieldChange {
                    value: field.value.clone(),
                    seen: vec![],
                },
            );
        }
    }
    let audience: [Audience; 1] = [(row.to_agency.clone(), Some(allowed))];
    for (hlc, fields) in by_version {
        let op = Operation {
            op_id: server_op_id(tx)?,
            kind: RecordKind::Case,
            record_id: row.case_id,
            hlc,
            fields,
        };
        append(tx, sealer, &op, &owner, &audience)?;
    }
    Ok(())
}

/// Applies a device's commands (see [`crate::storage::Storage::apply_commands`]).
pub(super) fn apply_commands(
    tx: &Transaction<'_>,
    sealer: &Sealer,
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
        let recorded: Option<String> = tx
            .query_row(
                "SELECT result FROM referral_commands WHERE device_id = ?1 AND seq = ?2",
                params![device.id.as_bytes(), to_sql_ms(command.command_id.seq)],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        if let Some(recorded) = recorded {
            let outcome: CommandOutcome = serde_json::from_str(&recorded).map_err(|_| {
                StorageError::Integrity("referral_commands.result is not an outcome".into())
            })?;
            results.push(CommandResult {
                command_id: command.command_id,
                outcome,
            });
            continue;
        }
        let row = referral_row(tx, command.referral_id)?;
        let outcome = match commands::decide(&device.agency, row.as_ref(), command) {
            Ok(status) => {
                let row = row.expect("decide applies only to a known referral");
                transition(tx, sealer, device, &row, command, status, now_ms)?;
                CommandOutcome::Applied { status }
            }
            Err((code, current_status)) => {
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
        tx.execute(
            "INSERT INTO referral_commands (device_id, seq, referral_id, result, processed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                device.id.as_bytes(),
                to_sql_ms(command.command_id.seq),
                command.referral_id.as_bytes(),
                serde_json::to_string(&outcome).expect("outcomes serialize"),
                to_sql_ms(now_ms),
            ],
        )
        .map_err(backend)?;
        results.push(CommandResult {
            command_id: command.command_id,
            outcome,
        });
    }
    Ok(results)
}

fn transition(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    row: &ReferralRow,
    command: &ReferralCommand,
    status: ReferralStatus,
    now_ms: u64,
) -> Result<(), StorageError> {
    // Compare-and-set: only from the status the decision was made on.
    let changed = tx
        .execute(
            "UPDATE referrals SET status = ?2, updated_at = ?3
             WHERE referral_id = ?1 AND status = ?4",
            params![
                row.referral_id.as_bytes(),
                status.as_str(),
                to_sql_ms(now_ms),
                row.status.as_str()
            ],
        )
        .map_err(backend)?;
    if changed != 1 {
        return Err(StorageError::Backend(
            "a referral's status changed under its compare-and-set".into(),
        ));
    }
    let values = load_state(tx, sealer, row.referral_id)?
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
    let position = write_status(tx, sealer, row, &server, now_ms)?;
    let ends_access = match status {
        ReferralStatus::Declined | ReferralStatus::Cancelled | ReferralStatus::Completed => true,
        ReferralStatus::Accepted if row.transfer => {
            // The case is the receiving agency's now: new operations go to it as owner, and
            // no longer to the sender (unless another open referral still gives it access).
            tx.execute(
                "UPDATE records SET owner_agency = ?2 WHERE record_id = ?1",
                params![row.case_id.as_bytes(), row.to_agency.as_str()],
            )
            .map_err(backend)?;
            true
        }
        _ => false,
    };
    if ends_access {
        tx.execute(
            "UPDATE case_access SET until_position = ?2
             WHERE referral_id = ?1 AND until_position IS NULL",
            params![row.referral_id.as_bytes(), to_sql_ms(position)],
        )
        .map_err(backend)?;
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

/// The timeline of a referral the device's agency is party to, the read audited.
pub(super) fn timeline(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
    now_ms: u64,
) -> Result<Option<ReferralTimeline>, StorageError> {
    let Some(row) = referral_row(tx, id)? else {
        return Ok(None);
    };
    if device.agency != row.from_agency && device.agency != row.to_agency {
        return Ok(None);
    }
    let values = load_state(tx, sealer, id)?
        .map(|s| s.values())
        .unwrap_or_default();
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
}
