//! The audit log in SQLite: appending the entries [`crate::service::audit`] words, and
//! listing them.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.

use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::storage::{AuditEntry, AuditEvent, StorageError};
use fieldcase_core::RecordId;
use rusqlite::{params, Transaction};

pub(super) fn insert(tx: &Transaction<'_>, entry: &AuditEntry) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO audit_log
           (at, event, agency, device_id, user_id, record_id, first_position, last_position,
            ops, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            to_sql_ms(entry.at_ms),
            entry.event.as_str(),
            entry.agency.as_str(),
            entry.device.map(|d| d.as_bytes().to_vec()),
            entry.user_id,
            entry.record_id.map(|r| r.as_bytes().to_vec()),
            entry.first_position.map(to_sql_ms),
            entry.last_position.map(to_sql_ms),
            entry.ops,
            entry.detail,
        ])
    })
    .map_err(backend)?;
    Ok(())
}

pub(super) fn list(
    tx: &Transaction<'_>,
    record: Option<RecordId>,
) -> Result<Vec<AuditEntry>, StorageError> {
    let mut stmt = tx
        .prepare(
            "SELECT at, event, agency, device_id, user_id, record_id, first_position,
                    last_position, ops, detail
             FROM audit_log WHERE ?1 IS NULL OR record_id = ?1 ORDER BY id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([record.map(|r| r.as_bytes().to_vec())], |row| {
            let event: String = row.get(1)?;
            Ok(AuditEntry {
                at_ms: ms_col(row.get(0)?),
                event: AuditEvent::parse(&event).ok_or_else(|| super::bad_column("event"))?,
                agency: agency_col(row.get(2)?)?,
                device: row
                    .get::<_, Option<Vec<u8>>>(3)?
                    .map(device_id_col)
                    .transpose()?,
                user_id: row.get(4)?,
                record_id: row
                    .get::<_, Option<Vec<u8>>>(5)?
                    .map(record_id_col)
                    .transpose()?,
                first_position: row.get::<_, Option<i64>>(6)?.map(ms_col),
                last_position: row.get::<_, Option<i64>>(7)?.map(ms_col),
                ops: row.get(8)?,
                detail: row.get(9)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}
