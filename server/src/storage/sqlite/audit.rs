//! The audit log in SQLite: every referral made or moved, every refused command, every
//! delivery of another agency's shared data to a device, every timeline read.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.

use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::storage::{AuditEntry, AuditEvent, Delivery, DeviceAuth, Position, StorageError};
use fieldcase_core::RecordId;
use rusqlite::{params, Transaction};

/// What one entry says, beyond who and when.
#[derive(Default)]
pub(super) struct Subject<'a> {
    pub record: Option<RecordId>,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    pub ops: Option<u32>,
    pub detail: Option<&'a str>,
}

pub(super) fn record(
    tx: &Transaction<'_>,
    event: AuditEvent,
    device: &DeviceAuth,
    subject: Subject<'_>,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO audit_log
           (at, event, agency, device_id, user_id, record_id, first_position, last_position,
            ops, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            to_sql_ms(now_ms),
            event.as_str(),
            device.agency.as_str(),
            device.id.as_bytes(),
            device.user_id,
            subject.record.map(|r| r.as_bytes().to_vec()),
            subject.first_position.map(to_sql_ms),
            subject.last_position.map(to_sql_ms),
            subject.ops,
            subject.detail,
        ])
    })
    .map_err(backend)?;
    Ok(())
}

pub(super) fn record_deliveries(
    tx: &Transaction<'_>,
    device: &DeviceAuth,
    deliveries: &[Delivery],
    now_ms: u64,
) -> Result<(), StorageError> {
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
