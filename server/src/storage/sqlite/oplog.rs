//! The operation log in SQLite: records, device progress, and the range scan a pull reads.
//!
//! Storage only: the push loop, the audiences and what a device may see are decided in
//! [`crate::service`]. Rows are read and written here exactly as the service asks.

use super::state::{kind_col, open_fields, FieldMap};
use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::seal::Sealer;
use crate::storage::port::{AddressedOp, DeviceProgress, StoredRecord};
use crate::storage::{Position, StorageError};
use fieldcase_core::{DeviceId, Hlc, OpId, Operation, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeSet;

pub(super) fn device_progress(
    tx: &Transaction<'_>,
    device: DeviceId,
) -> Result<Option<DeviceProgress>, StorageError> {
    tx.query_row(
        "SELECT last_seq, revoked_at FROM devices WHERE id = ?1",
        [device.as_bytes()],
        |row| {
            Ok(DeviceProgress {
                last_seq: ms_col(row.get(0)?),
                revoked: row.get::<_, Option<i64>>(1)?.is_some(),
            })
        },
    )
    .optional()
    .map_err(backend)
}

pub(super) fn set_device_progress(
    tx: &Transaction<'_>,
    device: DeviceId,
    last_seq: u64,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET last_seq = ?2, last_seen_at = ?3 WHERE id = ?1",
        params![device.as_bytes(), to_sql_ms(last_seq), to_sql_ms(now_ms)],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn insert_record(
    tx: &Transaction<'_>,
    op: &Operation,
    record: &StoredRecord,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO records (record_id, kind, owner_agency, case_id, created_device, created_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            op.record_id.as_bytes(),
            record.kind.as_str(),
            record.owner_agency.as_str(),
            record.case_id.as_ref().map(|c| c.as_bytes().to_vec()),
            op.op_id.device.as_bytes(),
            to_sql_ms(op.op_id.seq)
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn record(
    tx: &Transaction<'_>,
    id: RecordId,
) -> Result<Option<StoredRecord>, StorageError> {
    tx.prepare_cached("SELECT kind, owner_agency, case_id FROM records WHERE record_id = ?1")
        .map_err(backend)?
        .query_row([id.as_bytes()], |row| {
            let kind: String = row.get(0)?;
            Ok(StoredRecord {
                kind: RecordKind::parse(&kind).ok_or_else(|| super::bad_column("record kind"))?,
                owner_agency: agency_col(row.get(1)?)?,
                case_id: row
                    .get::<_, Option<Vec<u8>>>(2)?
                    .map(record_id_col)
                    .transpose()?,
            })
        })
        .optional()
        .map_err(backend)
}

pub(super) fn set_owner(
    tx: &Transaction<'_>,
    id: RecordId,
    owner: &fieldcase_core::AgencyCode,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE records SET owner_agency = ?2 WHERE record_id = ?1",
        params![id.as_bytes(), owner.as_str()],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn records_of_kind(
    tx: &Transaction<'_>,
    kind: RecordKind,
    owner: Option<&fieldcase_core::AgencyCode>,
) -> Result<Vec<(RecordId, fieldcase_core::AgencyCode)>, StorageError> {
    let mut statement = tx
        .prepare_cached(
            "SELECT record_id, owner_agency FROM records
             WHERE kind = ?1 AND (?2 IS NULL OR owner_agency = ?2)",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map(
            params![kind.as_str(), owner.map(fieldcase_core::AgencyCode::as_str)],
            |row| Ok((record_id_col(row.get(0)?)?, agency_col(row.get(1)?)?)),
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend);
    rows
}

pub(super) fn record_creator(
    tx: &Transaction<'_>,
    id: RecordId,
) -> Result<Option<fieldcase_core::AgencyCode>, StorageError> {
    tx.prepare_cached(
        "SELECT d.agency FROM records r JOIN devices d ON d.id = r.created_device
         WHERE r.record_id = ?1",
    )
    .map_err(backend)?
    .query_row([id.as_bytes()], |row| agency_col(row.get(0)?))
    .optional()
    .map_err(backend)
}

pub(super) fn device_agency(
    tx: &Transaction<'_>,
    device: DeviceId,
) -> Result<Option<fieldcase_core::AgencyCode>, StorageError> {
    tx.prepare_cached("SELECT agency FROM devices WHERE id = ?1")
        .map_err(backend)?
        .query_row([device.as_bytes()], |row| agency_col(row.get(0)?))
        .optional()
        .map_err(backend)
}

pub(super) fn creation_fields(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: RecordId,
) -> Result<Option<FieldMap>, StorageError> {
    let found = tx
        .query_row(
            "SELECT l.device_id, l.seq, l.kind, l.payload, l.position
             FROM records r JOIN op_log l
               ON l.device_id = r.created_device AND l.seq = r.created_seq
             WHERE r.record_id = ?1",
            [id.as_bytes()],
            |row| {
                let kind: String = row.get(2)?;
                Ok((
                    device_id_col(row.get(0)?)?,
                    ms_col(row.get(1)?),
                    RecordKind::parse(&kind).ok_or_else(|| super::bad_column("record kind"))?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()
        .map_err(backend)?;
    found
        .map(|(device, seq, kind, payload, position)| {
            open_fields(
                sealer,
                OpId { device, seq },
                id,
                kind,
                &payload,
                Some(position),
            )
        })
        .transpose()
}

pub(super) fn addressed_after(
    tx: &Transaction<'_>,
    agency: &fieldcase_core::AgencyCode,
    after: Position,
    max_rows: u32,
) -> Result<Vec<AddressedOp>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT a.position, a.agency, a.fields, l.device_id, l.seq, l.kind, l.record_id,
                    l.hlc_wall, l.hlc_counter, l.hlc_device, l.payload, l.owner_agency
             FROM op_audience a JOIN op_log l ON l.position = a.position
             WHERE a.agency = ?1 AND a.position > ?2
             ORDER BY a.position LIMIT ?3",
        )
        .map_err(backend)?;
    let mut rows = stmt
        .query(params![
            agency.as_str(),
            to_sql_ms(after),
            i64::from(max_rows)
        ])
        .map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let listed: Option<String> = row.get(2).map_err(backend)?;
        let listed: Option<BTreeSet<String>> = listed
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| StorageError::Integrity("op_audience.fields is not a list".into()))?;
        let device = device_id_col(row.get(3).map_err(backend)?).map_err(backend)?;
        let hlc_device: Option<Vec<u8>> = row.get(9).map_err(backend)?;
        out.push(AddressedOp {
            position: ms_col(row.get(0).map_err(backend)?),
            audience: agency_col(row.get(1).map_err(backend)?).map_err(backend)?,
            listed,
            owner_agency: agency_col(row.get(11).map_err(backend)?).map_err(backend)?,
            op_id: OpId {
                device,
                seq: ms_col(row.get(4).map_err(backend)?),
            },
            kind: kind_col(&row.get::<_, String>(5).map_err(backend)?)?,
            record_id: record_id_col(row.get(6).map_err(backend)?).map_err(backend)?,
            hlc: Hlc {
                wall_ms: ms_col(row.get(7).map_err(backend)?),
                counter: row.get(8).map_err(backend)?,
                device: hlc_device
                    .map(device_id_col)
                    .transpose()
                    .map_err(backend)?
                    .unwrap_or(device),
            },
            payload: row.get(10).map_err(backend)?,
        });
    }
    Ok(out)
}

/// The highest position assigned so far (0 for an empty log).
pub(super) fn log_end(tx: &Transaction<'_>) -> Result<Position, StorageError> {
    let end: i64 = tx
        .query_row("SELECT COALESCE(MAX(position), 0) FROM op_log", [], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    Ok(ms_col(end))
}
