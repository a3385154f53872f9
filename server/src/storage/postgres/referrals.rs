//! Referrals in PostgreSQL: referral rows, the access they grant to a case, and the recorded
//! outcome of each referral command.
//!
//! Storage only: what a referral may share, what a transition does and what is audited are
//! decided in [`crate::service::referrals`]. [`compare_and_set_status`] is one conditional
//! `UPDATE`, so of two transitions from the same status only one takes effect.

use super::Tx;
use super::{agency_of, backend, col, ms, record_id_of, to_sql};
use crate::storage::port::{CaseAccess, ReferralRow};
use crate::storage::{Position, StorageError};
use ::postgres::Row;
use fieldcase_core::protocol::CommandOutcome;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{DeviceId, RecordId};
use std::collections::BTreeSet;

fn status_of(text: &str) -> Result<ReferralStatus, StorageError> {
    ReferralStatus::parse(text)
        .ok_or_else(|| StorageError::Integrity("unknown referral status".into()))
}

const SELECT_REFERRAL: &str = "SELECT referral_id, case_id, from_agency, to_agency, status,
        transfer, share_back, shared_fields FROM referrals";

fn referral_of(row: &Row) -> Result<ReferralRow, StorageError> {
    Ok(ReferralRow {
        referral_id: record_id_of(col(row, 0)?)?,
        case_id: record_id_of(col(row, 1)?)?,
        from_agency: agency_of(col(row, 2)?)?,
        to_agency: agency_of(col(row, 3)?)?,
        status: status_of(col(row, 4)?)?,
        transfer: col(row, 5)?,
        share_back: col(row, 6)?,
        shared_fields: serde_json::from_str(col(row, 7)?)
            .map_err(|_| StorageError::Integrity("referrals.shared_fields is not a list".into()))?,
    })
}

pub(super) fn referral_row(
    tx: &mut Tx<'_>,
    id: RecordId,
) -> Result<Option<ReferralRow>, StorageError> {
    tx.query_opt(
        &format!("{SELECT_REFERRAL} WHERE referral_id = $1"),
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| referral_of(&row))
    .transpose()
}

pub(super) fn of_case(tx: &mut Tx<'_>, case: RecordId) -> Result<Vec<ReferralRow>, StorageError> {
    tx.query(
        &format!("{SELECT_REFERRAL} WHERE case_id = $1 ORDER BY created_at, referral_id"),
        &[&case.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .iter()
    .map(referral_of)
    .collect()
}

pub(super) fn insert(tx: &mut Tx<'_>, row: &ReferralRow, now_ms: u64) -> Result<(), StorageError> {
    let shared = serde_json::to_string(&row.shared_fields).expect("lists serialize");
    tx.execute(
        "INSERT INTO referrals
           (referral_id, case_id, from_agency, to_agency, status, transfer, share_back,
            shared_fields, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            &row.referral_id.as_bytes().as_slice(),
            &row.case_id.as_bytes().as_slice(),
            &row.from_agency.as_str(),
            &row.to_agency.as_str(),
            &row.status.as_str(),
            &row.transfer,
            &row.share_back,
            &shared,
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn compare_and_set_status(
    tx: &mut Tx<'_>,
    id: RecordId,
    expected: ReferralStatus,
    new: ReferralStatus,
    now_ms: u64,
) -> Result<bool, StorageError> {
    let changed = tx
        .execute(
            "UPDATE referrals SET status = $2, updated_at = $3
             WHERE referral_id = $1 AND status = $4",
            &[
                &id.as_bytes().as_slice(),
                &new.as_str(),
                &to_sql(now_ms),
                &expected.as_str(),
            ],
        )
        .map_err(backend)?;
    Ok(changed == 1)
}

pub(super) fn grant_access(
    tx: &mut Tx<'_>,
    case: RecordId,
    access: &CaseAccess,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO case_access
           (case_id, agency, referral_id, fields, from_position, until_position)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &case.as_bytes().as_slice(),
            &access.agency.as_str(),
            &access.referral_id.as_bytes().as_slice(),
            &serde_json::to_string(&access.fields).expect("lists serialize"),
            &to_sql(access.from),
            &access.until.map(to_sql),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn end_access(
    tx: &mut Tx<'_>,
    referral: RecordId,
    at: Position,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE case_access SET until_position = $2
         WHERE referral_id = $1 AND until_position IS NULL",
        &[&referral.as_bytes().as_slice(), &to_sql(at)],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn access_of_case(
    tx: &mut Tx<'_>,
    case: RecordId,
) -> Result<Vec<CaseAccess>, StorageError> {
    tx.query(
        "SELECT agency, referral_id, fields, from_position, until_position
         FROM case_access WHERE case_id = $1 ORDER BY from_position, agency, referral_id",
        &[&case.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| {
        let fields: BTreeSet<String> = serde_json::from_str(col(row, 2)?)
            .map_err(|_| StorageError::Integrity("case_access.fields is not a list".into()))?;
        Ok(CaseAccess {
            agency: agency_of(col(row, 0)?)?,
            referral_id: record_id_of(col(row, 1)?)?,
            fields,
            from: ms(col(row, 3)?),
            until: col::<Option<i64>>(row, 4)?.map(ms),
        })
    })
    .collect()
}

pub(super) fn command_outcome(
    tx: &mut Tx<'_>,
    device: DeviceId,
    seq: u64,
) -> Result<Option<CommandOutcome>, StorageError> {
    tx.query_opt(
        "SELECT result FROM referral_commands WHERE device_id = $1 AND seq = $2",
        &[&device.as_bytes().as_slice(), &to_sql(seq)],
    )
    .map_err(backend)?
    .map(|row| {
        serde_json::from_str(col(&row, 0)?).map_err(|_| {
            StorageError::Integrity("referral_commands.result is not an outcome".into())
        })
    })
    .transpose()
}

pub(super) fn store_command_outcome(
    tx: &mut Tx<'_>,
    device: DeviceId,
    seq: u64,
    referral: RecordId,
    outcome: &CommandOutcome,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO referral_commands (device_id, seq, referral_id, result, processed_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &device.as_bytes().as_slice(),
            &to_sql(seq),
            &referral.as_bytes().as_slice(),
            &serde_json::to_string(outcome).expect("outcomes serialize"),
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}
