//! The log's write side in SQLite: appending an operation with its audience, each record's
//! merged state, and the server's own operation ids and clock.
//!
//! - [`append`] writes one operation (payload sealed) and one `op_audience` row per agency it
//!   is addressed to, in the caller's transaction, and returns its position.
//! - [`merge_into_state`] folds an operation into the record's merged state with the same pure
//!   merge devices use (`fieldcase_core::merge::plan`) and stores it sealed, so the server
//!   knows a case's current fields and consent. A state missing after an upgrade is rebuilt
//!   from the log.
//! - [`server_op_id`] and [`server_clock`] number and stamp what the server writes itself
//!   (referral status, copies of shared fields): a fixed device id
//!   ([`fieldcase_core::protocol::SERVER_DEVICE_ID`]), a sequence and a hybrid clock kept in
//!   `server_meta`, so the server's writes order after each other and merge like any device's.

use super::{backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::seal::{record_state_ad, Sealer};
use crate::storage::{Position, StorageError};
use fieldcase_core::merge::{plan, RecordState};
use fieldcase_core::protocol::SERVER_DEVICE_ID;
use fieldcase_core::{AgencyCode, Clock, Hlc, OpId, Operation, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};

pub(super) use crate::storage::port::{Audience, FieldMap};

/// Appends `op` to the log, addressed to `audiences`, and returns its position.
pub(super) fn append(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    op: &Operation,
    owner_agency: &AgencyCode,
    audiences: &[Audience],
) -> Result<Position, StorageError> {
    let payload = crate::storage::packed::seal_op_fields(sealer, op);
    let hlc_device = (op.hlc.device != op.op_id.device).then(|| op.hlc.device.as_bytes().to_vec());
    tx.execute(
        "INSERT INTO op_log
           (device_id, seq, kind, record_id, owner_agency, hlc_wall, hlc_counter, hlc_device,
            payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            op.op_id.device.as_bytes(),
            to_sql_ms(op.op_id.seq),
            op.kind.as_str(),
            op.record_id.as_bytes(),
            owner_agency.as_str(),
            to_sql_ms(op.hlc.wall_ms),
            op.hlc.counter,
            hlc_device,
            payload
        ],
    )
    .map_err(backend)?;
    let position = tx.last_insert_rowid();
    let mut insert = tx
        .prepare_cached("INSERT INTO op_audience (agency, position, fields) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    let mut seen = BTreeSet::new();
    for (agency, fields) in audiences {
        if !seen.insert(agency) {
            continue;
        }
        let fields = fields
            .as_ref()
            .map(|f| serde_json::to_string(f).expect("field lists serialize"));
        insert
            .execute(params![agency.as_str(), position, fields])
            .map_err(backend)?;
    }
    Ok(ms_col(position))
}

/// Opens a sealed operation payload ([`crate::storage::packed::open_op_fields`]).
pub(super) use crate::storage::packed::open_op_fields as open_fields;

/// The merged state of a record, rebuilt from the log when it was never stored (a database
/// upgraded from before states were kept). `None` for a record with no operations.
pub(super) fn load_state(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
) -> Result<Option<RecordState>, StorageError> {
    let stored: Option<Option<Vec<u8>>> = tx
        .query_row(
            "SELECT state FROM records WHERE record_id = ?1",
            [record.as_bytes()],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    match stored {
        None => Ok(None),
        Some(Some(sealed)) => {
            let integrity =
                || StorageError::Integrity("a record's merged state does not open".into());
            let plain =
                crate::storage::packed::open_packed(sealer, &record_state_ad(record), &sealed)
                    .map_err(|_| integrity())?;
            serde_json::from_slice(&plain)
                .map(Some)
                .map_err(|_| integrity())
        }
        Some(None) => rebuild_state(tx, sealer, record),
    }
}

fn rebuild_state(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
) -> Result<Option<RecordState>, StorageError> {
    let ops = record_ops(tx, sealer, record)?;
    if ops.is_empty() {
        return Ok(None);
    }
    let merged = plan(&BTreeMap::new(), &ops);
    Ok(merged.records.into_values().next().map(|o| o.after))
}

/// Every logged operation of one record, in log order.
fn record_ops(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
) -> Result<Vec<Operation>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT position, device_id, seq, kind, hlc_wall, hlc_counter, hlc_device, payload
             FROM op_log WHERE record_id = ?1 ORDER BY position",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([record.as_bytes()]).map_err(backend)?;
    let mut ops = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let position: i64 = row.get(0).map_err(backend)?;
        let device = device_id_col(row.get(1).map_err(backend)?).map_err(backend)?;
        let op_id = OpId {
            device,
            seq: ms_col(row.get(2).map_err(backend)?),
        };
        let kind = kind_col(&row.get::<_, String>(3).map_err(backend)?)?;
        let hlc_device: Option<Vec<u8>> = row.get(6).map_err(backend)?;
        let hlc = Hlc {
            wall_ms: ms_col(row.get(4).map_err(backend)?),
            counter: row.get(5).map_err(backend)?,
            device: hlc_device
                .map(device_id_col)
                .transpose()
                .map_err(backend)?
                .unwrap_or(device),
        };
        let payload: Vec<u8> = row.get(7).map_err(backend)?;
        let fields = open_fields(sealer, op_id, record, kind, &payload, Some(position))?;
        ops.push(Operation {
            op_id,
            kind,
            record_id: record,
            hlc,
            fields,
        });
    }
    Ok(ops)
}

pub(super) fn kind_col(text: &str) -> Result<RecordKind, StorageError> {
    RecordKind::parse(text)
        .ok_or_else(|| StorageError::Integrity("unknown record kind in the log".into()))
}

/// Stores a record's merged state, packed and sealed and bound to the record, or (`None`)
/// none at all: the state is then rebuilt from the log when read. The record row must exist.
pub(super) fn store_state(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: Option<&RecordState>,
) -> Result<(), StorageError> {
    let sealed = state.map(|state| {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(state).expect("states serialize"));
        crate::storage::packed::seal_packed(sealer, &record_state_ad(record), &plain)
    });
    tx.execute(
        "UPDATE records SET state = ?2 WHERE record_id = ?1",
        params![record.as_bytes(), sealed],
    )
    .map_err(backend)?;
    Ok(())
}

/// The next id for an operation the server writes itself.
pub(super) fn server_op_id(tx: &Transaction<'_>) -> Result<OpId, StorageError> {
    let last = read_meta_text(tx, "server_seq")?
        .map(|t| t.parse::<u64>())
        .transpose()
        .map_err(|_| StorageError::Integrity("server_meta.server_seq is not a number".into()))?
        .unwrap_or(0);
    let seq = last + 1;
    write_meta_text(tx, "server_seq", &seq.to_string())?;
    Ok(OpId {
        device: SERVER_DEVICE_ID,
        seq,
    })
}

/// The server's next timestamp: after everything it issued before, whatever the wall clock
/// did in between.
pub(super) fn server_clock(tx: &Transaction<'_>, now_ms: u64) -> Result<Hlc, StorageError> {
    let last = read_meta_text(tx, "server_clock")?
        .map(|t| t.parse::<Hlc>())
        .transpose()
        .map_err(|_| StorageError::Integrity("server_meta.server_clock is not a version".into()))?;
    let mut clock = Clock::resume(SERVER_DEVICE_ID, last);
    let hlc = clock.tick(now_ms);
    write_meta_text(tx, "server_clock", &hlc.to_string())?;
    Ok(hlc)
}

fn read_meta_text(tx: &Transaction<'_>, key: &str) -> Result<Option<String>, StorageError> {
    let bytes: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM server_meta WHERE key = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    bytes
        .map(String::from_utf8)
        .transpose()
        .map_err(|_| StorageError::Integrity(format!("server_meta.{key} is not text")))
}

fn write_meta_text(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value.as_bytes()],
    )
    .map_err(backend)?;
    Ok(())
}

/// A record's id from a column.
pub(super) fn record_col(bytes: Vec<u8>) -> Result<RecordId, StorageError> {
    record_id_col(bytes).map_err(backend)
}
