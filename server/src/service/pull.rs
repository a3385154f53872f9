//! Reading a pull page: the rows addressed to the device's agency after its cursor, each cut
//! down to what [`visible_to`] lets the device see.
//!
//! A page is bounded three ways: by the number of operations the device asked for, by the
//! rows scanned ([`MAX_PULL_SCAN_ROWS`], so a device that may see little of a long stretch of
//! log still gets an answer quickly), and by the bytes of the operations it holds
//! ([`MAX_PULL_PAGE_BYTES`], so a few large operations never make a reply the device cannot
//! take). A page always holds at least one operation when one is visible, so a cursor always
//! moves. Read-only: the caller audits `deliveries` before anything leaves.

use super::visibility::{visible_to, Addressed, Visibility};
use crate::config::MAX_PULL_SCAN_ROWS;
use crate::storage::port::StoreTx;
use crate::storage::{Delivery, DeviceAuth, Position, PullPage, Storage, StorageError};
use fieldcase_core::model::Fields;
use fieldcase_core::protocol::MAX_PULL_PAGE_BYTES;
use fieldcase_core::{Operation, RecordId, RecordKind};
use std::collections::{BTreeMap, HashMap};

/// Operations after `after` visible to `device`, excluding its own, at most `limit` (see the
/// module docs).
pub fn pull(
    storage: &dyn Storage,
    device: &DeviceAuth,
    after: Position,
    limit: u32,
) -> Result<PullPage, StorageError> {
    crate::storage::read(storage, |tx| pull_in(tx, device, after, limit))
}

fn pull_in(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    after: Position,
    limit: u32,
) -> Result<PullPage, StorageError> {
    let mut page = PullPage {
        last_scanned: after,
        log_end: tx.log_end()?,
        ..PullPage::default()
    };
    let scan_bound = MAX_PULL_SCAN_ROWS.max(limit);
    let rows = tx.addressed_after(&device.agency, after, scan_bound.saturating_add(1))?;
    let mut scanned = 0u32;
    let mut bytes = 0usize;
    // The current state of cases of other agencies, opened once per page.
    let mut cases: HashMap<RecordId, Fields> = HashMap::new();
    let mut deliveries: BTreeMap<RecordId, Delivery> = BTreeMap::new();
    for row in rows {
        if scanned == scan_bound {
            page.more = true;
            break;
        }
        let visibility = if row.op_id.device == device.id {
            // The device's own operation: it has it.
            Visibility::None
        } else {
            let case = if row.kind == RecordKind::Case && row.owner_agency != device.agency {
                if let std::collections::hash_map::Entry::Vacant(slot) = cases.entry(row.record_id)
                {
                    let values = tx
                        .record_state(row.record_id)?
                        .map(|s| s.values())
                        .unwrap_or_default();
                    slot.insert(values);
                }
                cases.get(&row.record_id)
            } else {
                None
            };
            visible_to(
                &device.agency,
                &Addressed {
                    kind: row.kind,
                    owner_agency: &row.owner_agency,
                    audience: &row.audience,
                    fields: row.listed.as_ref(),
                },
                case,
            )
        };
        if visibility != Visibility::None && page.ops.len() == limit as usize {
            page.more = true;
            break;
        }
        if visibility == Visibility::None {
            scanned += 1;
            page.last_scanned = row.position;
            continue;
        }
        let mut fields = tx.open_payload(&row)?;
        if let Visibility::Fields(allowed) = &visibility {
            fields.retain(|key, _| allowed.contains(key));
        }
        let op = Operation {
            op_id: row.op_id,
            kind: row.kind,
            record_id: row.record_id,
            hlc: row.hlc,
            fields,
        };
        let size = serde_json::to_vec(&op)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if !page.ops.is_empty() && bytes.saturating_add(size) > MAX_PULL_PAGE_BYTES {
            page.more = true;
            break;
        }
        scanned += 1;
        page.last_scanned = row.position;
        if op.fields.is_empty() {
            continue;
        }
        bytes = bytes.saturating_add(size);
        if row.owner_agency != device.agency {
            deliveries
                .entry(row.record_id)
                .and_modify(|d| {
                    d.last_position = row.position;
                    d.ops += 1;
                })
                .or_insert(Delivery {
                    record_id: row.record_id,
                    first_position: row.position,
                    last_position: row.position,
                    ops: 1,
                });
        }
        page.ops.push(op);
    }
    page.deliveries = deliveries.into_values().collect();
    Ok(page)
}
