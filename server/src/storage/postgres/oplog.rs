//! The operation log in PostgreSQL: records, device progress, appending an operation with its
//! audience, and the range scan a pull reads.
//!
//! Storage only: the push loop, the audiences and what a device may see are decided in
//! [`crate::service`]. [`append`] is where positions are drawn, under [`POSITION_LOCK`], so
//! positions become visible in the order they were drawn (see the parent module's docs).

use super::state::{kind_of, open_fields, FieldMap};
use super::Tx;
use super::{agency_of, backend, col, device_id_of, ms, record_id_of, to_sql};
use crate::seal::Sealer;
use crate::storage::port::{AddressedOp, Audience, DeviceProgress, StoredRecord};
use crate::storage::{Position, StorageError};
use fieldcase_core::{AgencyCode, DeviceId, Hlc, OpId, Operation, RecordId};
use std::collections::BTreeSet;

/// The transaction-scoped advisory lock a transaction holds from just before it draws its
/// first log position until it ends ("fieldpos" in ASCII: an arbitrary constant no other
/// lock of this schema uses). Re-taking it in the same transaction is a no-op in effect.
pub const POSITION_LOCK: i64 = 0x6669_656c_6470_6f73;

pub(super) fn device_progress(
    tx: &mut Tx<'_>,
    device: DeviceId,
) -> Result<Option<DeviceProgress>, StorageError> {
    tx.query_opt(
        "SELECT last_seq, revoked_at FROM devices WHERE id = $1",
        &[&device.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| {
        Ok(DeviceProgress {
            last_seq: ms(col(&row, 0)?),
            revoked: col::<Option<i64>>(&row, 1)?.is_some(),
        })
    })
    .transpose()
}

pub(super) fn set_device_progress(
    tx: &mut Tx<'_>,
    device: DeviceId,
    last_seq: u64,
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE devices SET last_seq = $2, last_seen_at = $3 WHERE id = $1",
        &[
            &device.as_bytes().as_slice(),
            &to_sql(last_seq),
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn insert_record(
    tx: &mut Tx<'_>,
    op: &Operation,
    record: &StoredRecord,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO records (record_id, kind, owner_agency, case_id, created_device, created_seq)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &op.record_id.as_bytes().as_slice(),
            &record.kind.as_str(),
            &record.owner_agency.as_str(),
            &record.case_id.as_ref().map(|c| c.as_bytes().to_vec()),
            &op.op_id.device.as_bytes().as_slice(),
            &to_sql(op.op_id.seq),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn record(tx: &mut Tx<'_>, id: RecordId) -> Result<Option<StoredRecord>, StorageError> {
    tx.query_opt(
        "SELECT kind, owner_agency, case_id FROM records WHERE record_id = $1",
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| {
        Ok(StoredRecord {
            kind: kind_of(col(&row, 0)?)?,
            owner_agency: agency_of(col(&row, 1)?)?,
            case_id: col::<Option<&[u8]>>(&row, 2)?
                .map(record_id_of)
                .transpose()?,
        })
    })
    .transpose()
}

pub(super) fn set_owner(
    tx: &mut Tx<'_>,
    id: RecordId,
    owner: &AgencyCode,
) -> Result<(), StorageError> {
    tx.execute(
        "UPDATE records SET owner_agency = $2 WHERE record_id = $1",
        &[&id.as_bytes().as_slice(), &owner.as_str()],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn records_of_kind(
    tx: &mut Tx<'_>,
    kind: fieldcase_core::RecordKind,
    owner: Option<&AgencyCode>,
) -> Result<Vec<(RecordId, AgencyCode)>, StorageError> {
    tx.query(
        "SELECT record_id, owner_agency FROM records
         WHERE kind = $1 AND ($2::text IS NULL OR owner_agency = $2)",
        &[&kind.as_str(), &owner.map(AgencyCode::as_str)],
    )
    .map_err(backend)?
    .iter()
    .map(|row| Ok((record_id_of(col(row, 0)?)?, agency_of(col(row, 1)?)?)))
    .collect()
}

pub(super) fn record_creator(
    tx: &mut Tx<'_>,
    id: RecordId,
) -> Result<Option<AgencyCode>, StorageError> {
    tx.query_opt(
        "SELECT d.agency FROM records r JOIN devices d ON d.id = r.created_device
         WHERE r.record_id = $1",
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| agency_of(col(&row, 0)?))
    .transpose()
}

pub(super) fn device_agency(
    tx: &mut Tx<'_>,
    device: DeviceId,
) -> Result<Option<AgencyCode>, StorageError> {
    tx.query_opt(
        "SELECT agency FROM devices WHERE id = $1",
        &[&device.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| agency_of(col(&row, 0)?))
    .transpose()
}

pub(super) fn creation_fields(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    id: RecordId,
) -> Result<Option<FieldMap>, StorageError> {
    let Some(row) = tx
        .query_opt(
            "SELECT l.device_id, l.seq, l.kind, l.payload, l.position
             FROM records r JOIN op_log l
               ON l.device_id = r.created_device AND l.seq = r.created_seq
             WHERE r.record_id = $1",
            &[&id.as_bytes().as_slice()],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let op_id = OpId {
        device: device_id_of(col(&row, 0)?)?,
        seq: ms(col(&row, 1)?),
    };
    open_fields(
        sealer,
        op_id,
        id,
        kind_of(col(&row, 2)?)?,
        col(&row, 3)?,
        Some(col(&row, 4)?),
    )
    .map(Some)
}

/// Appends `op` to the log, addressed to `audiences`, and returns its position. Takes
/// [`POSITION_LOCK`] first, so the position it draws commits before any higher one.
pub(super) fn append(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    op: &Operation,
    owner_agency: &AgencyCode,
    audiences: &[Audience],
) -> Result<Position, StorageError> {
    let payload = crate::storage::packed::seal_op_fields(sealer, op);
    let hlc_device = (op.hlc.device != op.op_id.device).then(|| op.hlc.device.as_bytes().to_vec());
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&POSITION_LOCK])
        .map_err(backend)?;
    let position: i64 = tx
        .query_one(
            "INSERT INTO op_log
               (device_id, seq, kind, record_id, owner_agency, hlc_wall, hlc_counter, hlc_device,
                payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING position",
            &[
                &op.op_id.device.as_bytes().as_slice(),
                &to_sql(op.op_id.seq),
                &op.kind.as_str(),
                &op.record_id.as_bytes().as_slice(),
                &owner_agency.as_str(),
                &to_sql(op.hlc.wall_ms),
                &i64::from(op.hlc.counter),
                &hlc_device,
                &payload,
            ],
        )
        .map_err(backend)?
        .get(0);
    let mut seen = BTreeSet::new();
    for (agency, fields) in audiences {
        if !seen.insert(agency) {
            continue;
        }
        let fields = fields
            .as_ref()
            .map(|f| serde_json::to_string(f).expect("field lists serialize"));
        tx.execute(
            "INSERT INTO op_audience (agency, position, fields) VALUES ($1, $2, $3)",
            &[&agency.as_str(), &position, &fields],
        )
        .map_err(backend)?;
    }
    Ok(ms(position))
}

pub(super) fn addressed_after(
    tx: &mut Tx<'_>,
    agency: &AgencyCode,
    after: Position,
    max_rows: u32,
) -> Result<Vec<AddressedOp>, StorageError> {
    let rows = tx
        .query(
            "SELECT a.position, a.agency, a.fields, l.device_id, l.seq, l.kind, l.record_id,
                    l.hlc_wall, l.hlc_counter, l.hlc_device, l.payload, l.owner_agency
             FROM op_audience a JOIN op_log l ON l.position = a.position
             WHERE a.agency = $1 AND a.position > $2
             ORDER BY a.position LIMIT $3",
            &[&agency.as_str(), &to_sql(after), &i64::from(max_rows)],
        )
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let listed: Option<BTreeSet<String>> = col::<Option<&str>>(row, 2)?
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| StorageError::Integrity("op_audience.fields is not a list".into()))?;
            let device = device_id_of(col(row, 3)?)?;
            let counter: i64 = col(row, 8)?;
            Ok(AddressedOp {
                position: ms(col(row, 0)?),
                audience: agency_of(col(row, 1)?)?,
                listed,
                owner_agency: agency_of(col(row, 11)?)?,
                op_id: OpId {
                    device,
                    seq: ms(col(row, 4)?),
                },
                kind: kind_of(col(row, 5)?)?,
                record_id: record_id_of(col(row, 6)?)?,
                hlc: Hlc {
                    wall_ms: ms(col(row, 7)?),
                    counter: u32::try_from(counter).map_err(|_| super::malformed("clock"))?,
                    device: col::<Option<&[u8]>>(row, 9)?
                        .map(device_id_of)
                        .transpose()?
                        .unwrap_or(device),
                },
                payload: col(row, 10)?,
            })
        })
        .collect()
}

/// The highest committed position (0 for an empty log).
pub(super) fn log_end(tx: &mut Tx<'_>) -> Result<Position, StorageError> {
    let end: i64 = tx
        .query_one("SELECT COALESCE(MAX(position), 0) FROM op_log", &[])
        .map_err(backend)?
        .get(0);
    Ok(ms(end))
}
