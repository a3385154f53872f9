//! Reading a pull page: the rows addressed to the device's agency after its cursor, each cut
//! down to what [`visible_to`] lets the device see.
//!
//! A page is bounded three ways: by the number of operations the device asked for, by the
//! rows scanned ([`MAX_PULL_SCAN_ROWS`], so a device that may see little of a long stretch of
//! log still gets an answer quickly), and by the bytes of the operations it holds
//! ([`MAX_PULL_PAGE_BYTES`], so a few large operations never make a reply the device cannot
//! take). A page always holds at least one operation when one is visible, so a cursor always
//! moves. Read-only: the caller audits `deliveries` before anything leaves.

use super::attachment_records;
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
        } else if row.kind == RecordKind::Attachment
            && row.owner_agency != device.agency
            && row.audience == device.agency
        {
            // Another agency's attachment record: the attachment's own rule, asked now.
            let fields = tx.open_payload(&row)?;
            if attachment_records::visible(tx, &device.agency, row.record_id, &fields)? {
                Visibility::Full
            } else {
                Visibility::None
            }
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
        let size = json_len(&op);
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

/// The length of `op` as JSON, counted as it is written rather than built: the page bound
/// needs only the number, and the reply serializes the operation again anyway.
fn json_len(op: &Operation) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, op) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::Sealer;
    use crate::storage::conformance::{enrolled_device, new_case_op, NOW};
    use crate::storage::sqlite::SqliteStorage;
    use fieldcase_core::{FieldChange, RecordId};

    /// A case operation of about 900 KiB: 100 form answers of 9 KiB (the model allows 1,000
    /// of 10 KiB).
    fn large_case_op(device: &DeviceAuth, seq: u64) -> Operation {
        let mut op = new_case_op(device, seq, RecordId::new());
        for i in 0..100 {
            op.fields.insert(
                format!("answers.q{i:03}"),
                FieldChange::fresh("x".repeat(9 * 1024).into()),
            );
        }
        op
    }

    #[test]
    fn a_page_stops_at_its_byte_bound_and_the_next_one_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStorage::open(&dir.path().join("test.db"), Sealer::from_key(&[5; 32])).unwrap();
        let storage: &dyn Storage = &store;
        let writer = enrolled_device(storage, "agency_a");
        let reader = enrolled_device(storage, "agency_a");
        let ops: Vec<Operation> = (1..=3).map(|seq| large_case_op(&writer, seq)).collect();
        let pushed = crate::service::push::push(storage, &writer, &ops, NOW).unwrap();
        assert_eq!(pushed.applied, 3, "{pushed:?}");

        let first = pull(storage, &reader, 0, 1000).unwrap();
        let bytes: usize = first
            .ops
            .iter()
            .map(|op| serde_json::to_vec(op).unwrap().len())
            .sum();
        assert_eq!(
            first.ops.len(),
            2,
            "three would pass {MAX_PULL_PAGE_BYTES} bytes"
        );
        assert!(bytes <= MAX_PULL_PAGE_BYTES);
        assert!(first.more);
        let second = pull(storage, &reader, first.last_scanned, 1000).unwrap();
        assert_eq!(second.ops.len(), 1);
        assert!(!second.more);
        let pulled: Vec<_> = first.ops.iter().chain(&second.ops).cloned().collect();
        assert_eq!(pulled, ops, "every operation once, in order");
    }
}
