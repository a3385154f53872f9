//! Each record's merged state in PostgreSQL (sealed, bound to the record), opening sealed
//! operation payloads, and the server's own operation ids and clock.
//!
//! - [`merge_into_state`] folds a server-written operation (a form) into its record's state
//!   with the same pure merge devices use; the service does the same for pushes through
//!   the port.
//! - [`server_op_id`] and [`server_clock`] number and stamp what the server writes itself, in
//!   `server_meta` rows: concurrent transactions that both write them conflict, and one of them
//!   runs again (see the parent module), so two server operations never share an id.

use super::Tx;
use super::{backend, col, ms};
use crate::seal::{record_state_ad, Sealer};
use crate::storage::StorageError;
use fieldcase_core::merge::{plan, RecordState};
use fieldcase_core::protocol::SERVER_DEVICE_ID;
use fieldcase_core::{Clock, Hlc, OpId, Operation, RecordId, RecordKind};
use std::collections::BTreeMap;

pub(super) use crate::storage::port::FieldMap;

pub(super) fn kind_of(text: &str) -> Result<RecordKind, StorageError> {
    RecordKind::parse(text)
        .ok_or_else(|| StorageError::Integrity("unknown record kind in the log".into()))
}

/// Opens a sealed operation payload ([`crate::storage::packed::open_op_fields`]).
pub(super) use crate::storage::packed::open_op_fields as open_fields;

/// The merged state of a record, rebuilt from the log when none was stored. `None` for a
/// record with no operations.
pub(super) fn load_state(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
) -> Result<Option<RecordState>, StorageError> {
    let Some(row) = tx
        .query_opt(
            "SELECT state FROM records WHERE record_id = $1",
            &[&record.as_bytes().as_slice()],
        )
        .map_err(backend)?
    else {
        return Ok(None);
    };
    match col::<Option<&[u8]>>(&row, 0)? {
        Some(sealed) => {
            let integrity =
                || StorageError::Integrity("a record's merged state does not open".into());
            let plain =
                crate::storage::packed::open_packed(sealer, &record_state_ad(record), sealed)
                    .map_err(|_| integrity())?;
            serde_json::from_slice(&plain)
                .map(Some)
                .map_err(|_| integrity())
        }
        None => rebuild_state(tx, sealer, record),
    }
}

fn rebuild_state(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
) -> Result<Option<RecordState>, StorageError> {
    let rows = tx
        .query(
            "SELECT position, device_id, seq, kind, hlc_wall, hlc_counter, hlc_device, payload
             FROM op_log WHERE record_id = $1 ORDER BY position",
            &[&record.as_bytes().as_slice()],
        )
        .map_err(backend)?;
    let mut ops = Vec::with_capacity(rows.len());
    for row in &rows {
        let device = super::device_id_of(col(row, 1)?)?;
        let op_id = OpId {
            device,
            seq: ms(col(row, 2)?),
        };
        let kind = kind_of(col(row, 3)?)?;
        let counter: i64 = col(row, 5)?;
        let hlc = Hlc {
            wall_ms: ms(col(row, 4)?),
            counter: u32::try_from(counter).map_err(|_| super::malformed("clock"))?,
            device: col::<Option<&[u8]>>(row, 6)?
                .map(super::device_id_of)
                .transpose()?
                .unwrap_or(device),
        };
        let fields = open_fields(sealer, op_id, record, kind, col(row, 7)?, col(row, 0)?)?;
        ops.push(Operation {
            op_id,
            kind,
            record_id: record,
            hlc,
            fields,
        });
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let merged = plan(&BTreeMap::new(), &ops);
    Ok(merged.records.into_values().next().map(|o| o.after))
}

/// Stores a record's merged state, packed and sealed and bound to the record, or (`None`)
/// none at all: the state is then rebuilt from the log when read. The record row must exist.
pub(super) fn store_state(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: Option<&RecordState>,
) -> Result<(), StorageError> {
    let sealed = state.map(|state| {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(state).expect("states serialize"));
        crate::storage::packed::seal_packed(sealer, &record_state_ad(record), &plain)
    });
    tx.execute(
        "UPDATE records SET state = $2 WHERE record_id = $1",
        &[&record.as_bytes().as_slice(), &sealed],
    )
    .map_err(backend)?;
    Ok(())
}

/// The next id for an operation the server writes itself.
pub(super) fn server_op_id(tx: &mut Tx<'_>) -> Result<OpId, StorageError> {
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

/// The server's next timestamp: after everything it issued before.
pub(super) fn server_clock(tx: &mut Tx<'_>, now_ms: u64) -> Result<Hlc, StorageError> {
    let last = read_meta_text(tx, "server_clock")?
        .map(|t| t.parse::<Hlc>())
        .transpose()
        .map_err(|_| StorageError::Integrity("server_meta.server_clock is not a version".into()))?;
    let mut clock = Clock::resume(SERVER_DEVICE_ID, last);
    let hlc = clock.tick(now_ms);
    write_meta_text(tx, "server_clock", &hlc.to_string())?;
    Ok(hlc)
}

pub(super) fn read_meta(tx: &mut Tx<'_>, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    tx.query_opt("SELECT value FROM server_meta WHERE key = $1", &[&key])
        .map_err(backend)?
        .map(|row| col(&row, 0))
        .transpose()
}

fn read_meta_text(tx: &mut Tx<'_>, key: &str) -> Result<Option<String>, StorageError> {
    read_meta(tx, key)?
        .map(String::from_utf8)
        .transpose()
        .map_err(|_| StorageError::Integrity(format!("server_meta.{key} is not text")))
}

pub(super) fn write_meta(tx: &mut Tx<'_>, key: &str, value: &[u8]) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .map_err(backend)?;
    Ok(())
}

fn write_meta_text(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<(), StorageError> {
    write_meta(tx, key, value.as_bytes())
}
