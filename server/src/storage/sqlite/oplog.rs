//! The operation log in SQLite: applying a push, reading a pull page.
//!
//! A push is one immediate transaction on the writer: read the device's `last_seq`, walk the
//! batch (skip what is at or below it, stop at a gap, decide the rest with
//! [`crate::sync::rules`]), merge accepted operations into their record's state, append them
//! with their payload sealed and addressed to the agencies that may pull them, and store the
//! new `last_seq` — all committed together. A pull is one read transaction on a reader: a
//! range scan of `op_audience` for the device's agency after the cursor, each row filtered
//! through [`crate::visibility::visible_to`] and cut down to the fields it may show.

use super::state::{self, append, kind_col, merge_into_state, open_fields, FieldMap};
use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::config::MAX_PULL_SCAN_ROWS;
use crate::seal::Sealer;
use crate::storage::*;
use crate::sync::rules::{self, Decision, RecordLookup, ReferralGrant, StoredRecord};
use crate::visibility::{visible_to, Addressed, Visibility};
use fieldcase_core::model::Fields;
use fieldcase_core::protocol::{Rejection, SERVER_DEVICE_ID};
use fieldcase_core::{AgencyCode, Hlc, OpId, Operation, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) fn push(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    ops: &[Operation],
    now_ms: u64,
) -> Result<PushOutcome, StorageError> {
    if device.id == SERVER_DEVICE_ID {
        return Err(StorageError::InvalidPush(
            "the server's own device id cannot push",
        ));
    }
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
        match rules::decide(&device.agency, op, now_ms, &mut lookup)? {
            Decision::Create(record) => {
                insert_record(tx, op, &record)?;
                apply(tx, sealer, op, &record.owner_agency, record.case_id)?;
                outcome.applied += 1;
            }
            Decision::CreateReferral { record, referral } => {
                super::referrals::create(tx, sealer, device, op, &record, &referral, now_ms)?;
                outcome.applied += 1;
            }
            Decision::Append { owner_agency } => {
                let case_id = lookup.record(op.record_id)?.and_then(|r| r.case_id);
                apply(tx, sealer, op, &owner_agency, case_id)?;
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

/// Merges an accepted operation into its record's state and appends it, addressed.
fn apply(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    op: &Operation,
    owner: &AgencyCode,
    case_id: Option<RecordId>,
) -> Result<(), StorageError> {
    let after = merge_into_state(tx, sealer, op)?;
    let audiences = super::referrals::audiences_for(tx, op, owner, case_id, &after)?;
    append(tx, sealer, op, owner, &audiences)?;
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

    fn creation_fields(&mut self, id: RecordId) -> Result<Option<FieldMap>, StorageError> {
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
                open_fields(
                    self.sealer,
                    OpId { device, seq },
                    id,
                    kind,
                    &payload,
                    Some(position),
                )
            })
            .transpose()
    }

    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, StorageError> {
        super::directory::agency_exists(self.tx, agency)
    }

    fn referrals_to(
        &mut self,
        case: RecordId,
        agency: &AgencyCode,
    ) -> Result<Vec<ReferralGrant>, StorageError> {
        super::referrals::referrals_to(self.tx, case, agency)
    }
}

pub(super) fn pull(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    after: Position,
    limit: u32,
) -> Result<PullPage, StorageError> {
    let mut page = PullPage {
        last_scanned: after,
        log_end: log_end(tx)?,
        ..PullPage::default()
    };
    let scan_bound = MAX_PULL_SCAN_ROWS.max(limit);
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
            device.agency.as_str(),
            to_sql_ms(after),
            i64::from(scan_bound) + 1
        ])
        .map_err(backend)?;
    let mut scanned = 0u32;
    // The current state of cases of other agencies, opened once per page.
    let mut cases: HashMap<RecordId, Fields> = HashMap::new();
    let mut deliveries: BTreeMap<RecordId, Delivery> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(backend)? {
        if scanned == scan_bound {
            page.more = true;
            break;
        }
        let position: i64 = row.get(0).map_err(backend)?;
        let audience = agency_col(row.get(1).map_err(backend)?).map_err(backend)?;
        let listed: Option<String> = row.get(2).map_err(backend)?;
        let op_device = device_id_col(row.get(3).map_err(backend)?).map_err(backend)?;
        let kind = kind_col(&row.get::<_, String>(5).map_err(backend)?)?;
        let record_id = record_id_col(row.get(6).map_err(backend)?).map_err(backend)?;
        let owner_agency = agency_col(row.get(11).map_err(backend)?).map_err(backend)?;
        let listed: Option<BTreeSet<String>> = listed
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| StorageError::Integrity("op_audience.fields is not a list".into()))?;
        let visibility = if op_device == device.id {
            // The device's own operation: it has it.
            Visibility::None
        } else {
            let case = if kind == RecordKind::Case && owner_agency != device.agency {
                if let std::collections::hash_map::Entry::Vacant(slot) = cases.entry(record_id) {
                    let values = state::load_state(tx, sealer, record_id)?
                        .map(|s| s.values())
                        .unwrap_or_default();
                    slot.insert(values);
                }
                cases.get(&record_id)
            } else {
                None
            };
            visible_to(
                &device.agency,
                &Addressed {
                    kind,
                    owner_agency: &owner_agency,
                    audience: &audience,
                    fields: listed.as_ref(),
                },
                case,
            )
        };
        if visibility != Visibility::None && page.ops.len() == limit as usize {
            page.more = true;
            break;
        }
        scanned += 1;
        page.last_scanned = ms_col(position);
        if visibility == Visibility::None {
            continue;
        }
        let seq = ms_col(row.get(4).map_err(backend)?);
        let op_id = OpId {
            device: op_device,
            seq,
        };
        let payload: Vec<u8> = row.get(10).map_err(backend)?;
        let mut fields = open_fields(sealer, op_id, record_id, kind, &payload, Some(position))?;
        if let Visibility::Fields(allowed) = &visibility {
            fields.retain(|key, _| allowed.contains(key));
            if fields.is_empty() {
                continue;
            }
        }
        let hlc_device: Option<Vec<u8>> = row.get(9).map_err(backend)?;
        let hlc = Hlc {
            wall_ms: ms_col(row.get(7).map_err(backend)?),
            counter: row.get(8).map_err(backend)?,
            device: hlc_device
                .map(device_id_col)
                .transpose()
                .map_err(backend)?
                .unwrap_or(op_device),
        };
        if owner_agency != device.agency {
            let at = ms_col(position);
            deliveries
                .entry(record_id)
                .and_modify(|d| {
                    d.last_position = at;
                    d.ops += 1;
                })
                .or_insert(Delivery {
                    record_id,
                    first_position: at,
                    last_position: at,
                    ops: 1,
                });
        }
        page.ops.push(Operation {
            op_id,
            kind,
            record_id,
            hlc,
            fields,
        });
    }
    page.deliveries = deliveries.into_values().collect();
    Ok(page)
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
