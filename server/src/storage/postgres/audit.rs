//! The audit log in PostgreSQL: appending the entries [`crate::service::audit`] words, and
//! listing them, oldest first.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.

use super::Tx;
use super::{agency_of, backend, col, device_id_of, ms, record_id_of, to_sql};
use crate::storage::{AuditEntry, AuditEvent, StorageError};
use fieldcase_core::RecordId;

pub(super) fn insert(tx: &mut Tx<'_>, entry: &AuditEntry) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO audit_log
           (at, event, agency, device_id, user_id, record_id, first_position, last_position,
            ops, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &to_sql(entry.at_ms),
            &entry.event.as_str(),
            &entry.agency.as_str(),
            &entry.device.map(|d| d.as_bytes().to_vec()),
            &entry.user_id,
            &entry.record_id.map(|r| r.as_bytes().to_vec()),
            &entry.first_position.map(to_sql),
            &entry.last_position.map(to_sql),
            &entry.ops.map(i64::from),
            &entry.detail,
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn list(
    tx: &mut Tx<'_>,
    record: Option<RecordId>,
) -> Result<Vec<AuditEntry>, StorageError> {
    tx.query(
        "SELECT at, event, agency, device_id, user_id, record_id, first_position,
                last_position, ops, detail
         FROM audit_log WHERE $1::bytea IS NULL OR record_id = $1 ORDER BY id",
        &[&record.map(|r| r.as_bytes().to_vec())],
    )
    .map_err(backend)?
    .iter()
    .map(|row| {
        Ok(AuditEntry {
            at_ms: ms(col(row, 0)?),
            event: AuditEvent::parse(col(row, 1)?)
                .ok_or_else(|| super::malformed("audit event"))?,
            agency: agency_of(col(row, 2)?)?,
            device: col::<Option<&[u8]>>(row, 3)?
                .map(device_id_of)
                .transpose()?,
            user_id: col(row, 4)?,
            record_id: col::<Option<&[u8]>>(row, 5)?
                .map(record_id_of)
                .transpose()?,
            first_position: col::<Option<i64>>(row, 6)?.map(ms),
            last_position: col::<Option<i64>>(row, 7)?.map(ms),
            ops: col::<Option<i64>>(row, 8)?
                .map(|n| u32::try_from(n).map_err(|_| super::malformed("audit count")))
                .transpose()?,
            detail: col(row, 9)?,
        })
    })
    .collect()
}
