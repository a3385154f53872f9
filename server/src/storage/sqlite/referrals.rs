//! Referrals in SQLite: referral rows, the access they grant to a case, and the recorded
//! outcome of each referral command.
//!
//! Storage only: what a referral may share, what a transition does and what is audited are
//! decided in [`crate::service::referrals`].

use super::state::record_col;
use super::{agency_col, backend, ms_col, to_sql_ms};
use crate::storage::port::{CaseAccess, ReferralRow};
use crate::storage::{Position, StorageError};
use fieldcase_core::protocol::CommandOutcome;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{DeviceId, RecordId};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeSet;

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

pub(super) fn of_case(
    tx: &Transaction<'_>,
    case: RecordId,
) -> Result<Vec<ReferralRow>, StorageError> {
    let ids: Vec<Vec<u8>> = tx
        .prepare_cached("SELECT referral_id FROM referrals WHERE case_id = ?1 ORDER BY created_at")
        .and_then(|mut stmt| {
            stmt.query_map([case.as_bytes()], |row| row.get(0))?
                .collect()
        })
        .map_err(backend)?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = referral_row(tx, record_col(id)?)? {
            rows.push(row);
        }
    }
    Ok(rows)
}

pub(super) fn insert(
    tx: &Transaction<'_>,
    row: &ReferralRow,
    now_ms: u64,
) -> Result<(), StorageError> {
    let shared = serde_json::to_string(&row.shared_fields).expect("lists serialize");
    tx.execute(
        "INSERT INTO referrals
           (referral_id, case_id, from_agency, to_agency, status, transfer, share_back,
            shared_fields, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            row.referral_id.as_bytes(),
            row.case_id.as_bytes(),
            row.from_agency.as_str(),
            row.to_agency.as_str(),
            row.status.as_str(),
            row.transfer,
            row.share_back,
            shared,
            to_sql_ms(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn compare_and_set_status(
    tx: &Transaction<'_>,
    id: RecordId,
    expected: ReferralStatus,
    new: ReferralStatus,
    now_ms: u64,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            "UPDATE referrals SET status = ?2, updated_at = ?3
             WHERE referral_id = ?1 AND status = ?4",
            params![
                id.as_bytes(),
                new.as_str(),
                to_sql_ms(now_ms),
                expected.as_str()
            ],
        )
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn grant_access(
    tx: &Transaction<'_>,
    case: RecordId,
    access: &CaseAccess,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO case_access
           (case_id, agency, referral_id, fields, from_position, until_position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            case.as_bytes(),
            access.agency.as_str(),
            access.referral_id.as_bytes(),
            serde_json::to_string(&access.fields).expect("lists serialize"),
            to_sql_ms(access.from),
            access.until.map(to_sql_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn end_access(
    tx: &Transaction<'_>,
    referral: RecordId,
    at: Position,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE case_access SET until_position = ?2
         WHERE referral_id = ?1 AND until_position IS NULL",
        params![referral.as_bytes(), to_sql_ms(at)],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn access_of_case(
    tx: &Transaction<'_>,
    case: RecordId,
) -> Result<Vec<CaseAccess>, StorageError> {
    type Raw = (String, Vec<u8>, String, i64, Option<i64>);
    let raws: Vec<Raw> = tx
        .prepare_cached(
            "SELECT agency, referral_id, fields, from_position, until_position
             FROM case_access WHERE case_id = ?1 ORDER BY from_position",
        )
        .and_then(|mut stmt| {
            stmt.query_map([case.as_bytes()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect()
        })
        .map_err(backend)?;
    raws.into_iter()
        .map(|(agency, referral, fields, from, until)| {
            let fields: BTreeSet<String> = serde_json::from_str(&fields)
                .map_err(|_| StorageError::Integrity("case_access.fields is not a list".into()))?;
            Ok(CaseAccess {
                agency: agency_col(agency).map_err(backend)?,
                referral_id: record_col(referral)?,
                fields,
                from: ms_col(from),
                until: until.map(ms_col),
            })
        })
        .collect()
}

pub(super) fn command_outcome(
    tx: &Transaction<'_>,
    device: DeviceId,
    seq: u64,
) -> Result<Option<CommandOutcome>, StorageError> {
    let recorded: Option<String> = tx
        .query_row(
            "SELECT result FROM referral_commands WHERE device_id = ?1 AND seq = ?2",
            params![device.as_bytes(), to_sql_ms(seq)],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    recorded
        .map(|text| {
            serde_json::from_str(&text).map_err(|_| {
                StorageError::Integrity("referral_commands.result is not an outcome".into())
            })
        })
        .transpose()
}

pub(super) fn store_command_outcome(
    tx: &Transaction<'_>,
    device: DeviceId,
    seq: u64,
    referral: RecordId,
    outcome: &CommandOutcome,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO referral_commands (device_id, seq, referral_id, result, processed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device.as_bytes(),
            to_sql_ms(seq),
            referral.as_bytes(),
            serde_json::to_string(outcome).expect("outcomes serialize"),
            to_sql_ms(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}
