//! The operation log in SQLite: applying a push, reading a pull page.
//!
//! A push is one immediate transaction on the writer: read the device's `last_seq`, walk the
//! batch (skip what is at or below it, stop at a gap, decide the rest with
//! [`crate::sync::rules`]), append accepted operations with their payload sealed, and store the
//! new `last_seq` — all committed together. A pull is one read transaction on a reader: a
//! range scan of `op_log_by_agency` after the cursor, filtered through
//! [`crate::visibility::visible_to`].

use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::config::MAX_PULL_SCAN_ROWS;
use crate::seal::{op_payload_ad, Sealer};
use crate::storage::*;
use crate::sync::rules::{self, Decision, RecordLookup, StoredRecord};
use crate::visibility::{visible_to, RecordMeta, Visibility};
use fieldcase_core::protocol::Rejection;
use fieldcase_core::{DeviceId, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeMap;

type Fields = BTreeMap<String, FieldChange>;

pub(super) fn push(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    ops: &[Operation],
    now_ms: u64,
) -> Result<PushOutcome, StorageError> {
    let state: Option<(i64, Option<i64>)> = tx
        .query_row(
            "SELECT last_seq, revoked_at FROM devices WHERE id = ?1",
            [device.id.as_bytes()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    let Some((last_seq, revoked_at)) = state else {
        return Err(StorageError::NotFound("device"));
    };
    if revoked_at.is_some() {
        // Revoked between authentication and this transaction: nothing more is accepted.
        return Err(StorageError::DeviceRevoked);
    }

    let mut outcome = PushOutcome {
        acked_through: ms_col(last_seq),
        ..PushOutcome::default()
    };
    let mut lookup = TxLookup { tx, sealer };
    for op in ops {
        if op.op_id.device != device.id {
            return Err(StorageError::InvalidPush(
                "an operation of another device was pushed",
            ));
        }
        let seq = op.op_id.seq;
        if seq <= outcome.acked_through {
            outcome.skipped += 1;
            continue;
        }
        if seq != outcome.acked_through + 1 {
            outcome.gap = true;
            break;
        }
        match rules::decide(&device.agency, op, &mut lookup)? {
            Decision::Create(record) => {
                insert_record(tx, op, &record)?;
                append(tx, sealer, op, &record.owner_agency)?;
                outcome.applied += 1;
            }
            Decision::Append { owner_agency } => {
                append(tx, sealer, op, &owner_agency)?;
                outcome.applied += 1;
            }
            Decision::AlreadyRecorded => outcome.applied += 1,
            Decision::Reject(reason) => outcome.rejections.push(Rejection {
                op_id: op.op_id,
                reason,
            }),
        }
        outcome.acked_through = seq;
    }

    tx.execute(
        "UPDATE devices SET last_seq = ?2, last_seen_at = ?3 WHERE id = ?1",
        params![
            device.id.as_bytes(),
            to_sql_ms(outcome.acked_through),
            to_sql_ms(now_ms)
        ],
    )
    .map_err(backend)?;
    Ok(outcome)
}

fn insert_record(
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

fn append(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    op: &Operation,
    owner_agency: &fieldcase_core::AgencyCode,
) -> Result<(), StorageError> {
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(&op.fields).expect("operation fields always serialize"),
    );
    let ad = op_payload_ad(op.op_id.device, op.op_id.seq, op.record_id, op.kind);
    let payload = sealer.seal(&ad, &plaintext);
    tx.execute(
        "INSERT INTO op_log
           (device_id, seq, kind, record_id, owner_agency, hlc_wall, hlc_counter, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            op.op_id.device.as_bytes(),
            to_sql_ms(op.op_id.seq),
            op.kind.as_str(),
            op.record_id.as_bytes(),
            owner_agency.as_str(),
            to_sql_ms(op.hlc.wall_ms),
            op.hlc.counter,
            payload
        ],
    )
    .map_err(backend)?;
    Ok(())
}

fn open_fields(
    sealer: &Sealer,
    device: DeviceId,
    seq: u64,
    record: RecordId,
    kind: RecordKind,
    payload: &[u8],
    position: Option<i64>,
) -> Result<Fields, StorageError> {
    let ad = op_payload_ad(device, seq, record, kind);
    let integrity = |what: &str| {
        let at = position
            .map(|p| format!(" at log position {p}"))
            .unwrap_or_default();
        StorageError::Integrity(format!("operation payload{at} {what}"))
    };
    let plaintext = zeroize::Zeroizing::new(
        sealer
            .open(&ad, payload)
            .map_err(|_| integrity("does not open"))?,
    );
    serde_json::from_slice(&plaintext).map_err(|_| integrity("is not a field map"))
}

/// The rules' view of records, read inside the push transaction.
struct TxLookup<'a, 'conn> {
    tx: &'a Transaction<'conn>,
    sealer: &'a Sealer,
}

impl RecordLookup for TxLookup<'_, '_> {
    type Error = StorageError;

    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, StorageError> {
        self.tx
            .query_row(
                "SELECT kind, owner_agency, case_id FROM records WHERE record_id = ?1",
                [id.as_bytes()],
                |row| {
                    let kind: String = row.get(0)?;
                    Ok(StoredRecord {
                        kind: RecordKind::parse(&kind)
                            .ok_or_else(|| super::bad_column("record kind"))?,
                        owner_agency: agency_col(row.get(1)?)?,
                        case_id: row
                            .get::<_, Option<Vec<u8>>>(2)?
                            .map(record_id_col)
                            .transpose()?,
                    })
                },
            )
            .optional()
            .map_err(backend)
    }

    fn creation_fields(&mut self, id: RecordId) -> Result<Option<Fields>, StorageError> {
        let found = self
            .tx
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
                open_fields(self.sealer, device, seq, id, kind, &payload, Some(position))
            })
            .transpose()
    }
}

pub(super) fn pull(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    after: Position,
    limit: u32,
) -> Result<PullPage, StorageError> {
    let log_end: i64 = tx
        .query_row("SELECT COALESCE(MAX(position), 0) FROM op_log", [], |row| {
            row.get(0)
        })
        .map_err(backend)?;
    let mut page = PullPage {
        last_scanned: after,
        log_end: ms_col(log_end),
        ..PullPage::default()
    };
    let scan_bound = MAX_PULL_SCAN_ROWS.max(limit);
    let mut stmt = tx
        .prepare_cached(
            "SELECT position, device_id, seq, kind, record_id, hlc_wall, hlc_counter, payload,
                    owner_agency
             FROM op_log WHERE owner_agency = ?1 AND position > ?2
             ORDER BY position LIMIT ?3",
        )
        .map_err(backend)?;
    let mut rows = stmt
        .query(params![
            device.agency.as_str(),
            to_sql_ms(after),
            i64::from(scan_bound) + 1
        ])
        .map_err(backend)?;
    let mut scanned = 0u32;
    while let Some(row) = rows.next().map_err(backend)? {
        if scanned == scan_bound {
            page.more = true;
            break;
        }
        let position: i64 = row.get(0).map_err(backend)?;
        let op_device = device_id_col(row.get(1).map_err(backend)?).map_err(backend)?;
        let kind_text: String = row.get(3).map_err(backend)?;
        let kind = RecordKind::parse(&kind_text)
            .ok_or_else(|| StorageError::Integrity("unknown record kind in the log".into()))?;
        let owner_agency = agency_col(row.get(8).map_err(backend)?).map_err(backend)?;
        // The query selected the device's agency; ask the visibility rule anyway, so a query
        // that someday selects more (referrals) cannot leak what the rule would refuse.
        let visible = op_device != device.id
            && visible_to(
                &device.agency,
                &RecordMeta {
                    kind,
                    owner_agency: &owner_agency,
                },
            ) == Visibility::Full;
        if visible && page.ops.len() == limit as usize {
            page.more = true;
            break;
        }
        scanned += 1;
        page.last_scanned = ms_col(position);
        if !visible {
            continue;
        }
        let seq = ms_col(row.get(2).map_err(backend)?);
        let record_id = record_id_col(row.get(4).map_err(backend)?).map_err(backend)?;
        let payload: Vec<u8> = row.get(7).map_err(backend)?;
        let fields = open_fields(
            sealer,
            op_device,
            seq,
            record_id,
            kind,
            &payload,
            Some(position),
        )?;
        page.ops.push(Operation {
            op_id: OpId {
                device: op_device,
                seq,
            },
            kind,
            record_id,
            hlc: Hlc {
                wall_ms: ms_col(row.get(5).map_err(backend)?),
                counter: row.get(6).map_err(backend)?,
                device: op_device,
            },
            fields,
        });
    }
    Ok(page)
}
