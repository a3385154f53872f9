//! Concurrency checks of the conformance suite: many pushers with pulls interleaved, and the
//! commit-order race that would let a cursor skip a position (see [`crate::storage`]).
//!
//! Both go through the trait from several threads at once; an implementation passes only if
//! every operation reaches every device entitled to it exactly once.

use super::{case_op, enrolled, NOW};
use crate::service::Service;
use crate::storage::port::StoredRecord;
use crate::storage::*;
use fieldcase_core::{OpId, RecordId, RecordKind};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Agencies × devices per agency × batches per device × operations per batch.
const AGENCIES: usize = 3;
const DEVICES_PER_AGENCY: usize = 3;
const BATCHES: u64 = 6;
const OPS_PER_BATCH: u64 = 3;
/// Operations a pull returns at most: small, so pulls page while pushes land.
const PAGE: u32 = 4;

/// Pulls everything after `cursor` for `device`, page by page; returns the new cursor.
fn pull_all(
    store: &dyn Storage,
    device: &DeviceAuth,
    mut cursor: Position,
    seen: &mut BTreeMap<OpId, u32>,
) -> Position {
    loop {
        let page = store.pull(device, cursor, PAGE).unwrap();
        for op in &page.ops {
            *seen.entry(op.op_id).or_default() += 1;
        }
        assert!(page.last_scanned >= cursor, "a cursor never moves back");
        cursor = page.last_scanned;
        if !page.more {
            return cursor;
        }
    }
}

pub fn concurrent_pushers_each_operation_pulled_exactly_once(store: &dyn Storage) {
    let devices: Vec<DeviceAuth> = (0..AGENCIES)
        .flat_map(|a| (0..DEVICES_PER_AGENCY).map(move |_| a))
        .map(|a| enrolled(store, &format!("agency_{a}")))
        .collect();
    let results: Vec<(DeviceAuth, BTreeMap<OpId, u32>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .map(|device| {
                scope.spawn(move || {
                    let record = RecordId::new();
                    let mut seen = BTreeMap::new();
                    let mut cursor = 0;
                    for batch in 0..BATCHES {
                        let ops: Vec<_> = (1..=OPS_PER_BATCH)
                            .map(|i| case_op(device, batch * OPS_PER_BATCH + i, record))
                            .collect();
                        let outcome = store.push(device, &ops, NOW).unwrap();
                        assert_eq!(outcome.applied as u64, OPS_PER_BATCH, "{outcome:?}");
                        cursor = pull_all(store, device, cursor, &mut seen);
                    }
                    (device.clone(), cursor, seen)
                })
            })
            .collect();
        let finished: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // Every pusher is done: one more pull each from where it stood.
        finished
            .into_iter()
            .map(|(device, cursor, mut seen)| {
                pull_all(store, &device, cursor, &mut seen);
                (device, seen)
            })
            .collect()
    });
    for (device, seen) in &results {
        let expected: BTreeSet<OpId> = devices
            .iter()
            .filter(|d| d.agency == device.agency && d.id != device.id)
            .flat_map(|d| (1..=BATCHES * OPS_PER_BATCH).map(move |seq| OpId { device: d.id, seq }))
            .collect();
        let got: BTreeSet<OpId> = seen.keys().copied().collect();
        assert_eq!(
            got, expected,
            "every operation of the agency's other devices, none of another agency's"
        );
        assert!(
            seen.values().all(|&n| n == 1),
            "each operation pulled exactly once"
        );
    }
}

/// How long the first transaction stays open after drawing its position: long enough for the
/// second to commit first if nothing stops it.
const HOLD_OPEN: Duration = Duration::from_millis(400);

fn write_one(
    tx: &mut dyn port::StoreTx,
    device: &DeviceAuth,
    record: RecordId,
) -> Result<Position, StorageError> {
    let op = case_op(device, 1, record);
    tx.insert_record(
        &op,
        &StoredRecord {
            kind: RecordKind::Case,
            owner_agency: device.agency.clone(),
            case_id: None,
        },
    )?;
    tx.append(&op, &device.agency, &[(device.agency.clone(), None)])
}

fn scan(store: &dyn Storage, agency: &AgencyCode, after: Position) -> Vec<Position> {
    read(store, |tx| tx.addressed_after(agency, after, 100))
        .unwrap()
        .into_iter()
        .map(|row| row.position)
        .collect()
}

/// Transaction A draws a position and stays open; transaction B starts after, commits as soon
/// as it may; a reader scans as soon as B committed, moves its cursor to what it saw, then
/// scans again once A committed. Where B could commit a higher position while A's lower one
/// was still uncommitted, the reader's cursor passes A's position and never sees it.
pub fn commit_order_race_never_skips_a_position(store: &dyn Storage) {
    commit_order_race_between(store, store, store);
}

/// The same race with each party on its own handle of one database (for a backend several
/// server processes share: the writers and the reader are then different processes).
pub fn commit_order_race_between(first: &dyn Storage, second: &dyn Storage, reader: &dyn Storage) {
    let a_device = enrolled(first, "agency_a");
    let b_device = enrolled(first, "agency_a");
    let agency = a_device.agency.clone();
    let (a_appended_tx, a_appended) = mpsc::channel::<()>();
    let (b_committed_tx, b_committed) = mpsc::channel::<Instant>();
    let (first_scan, a_committed_at, b_called_at) = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            write(first, |tx| {
                let position = write_one(tx, &a_device, RecordId::new())?;
                let _ = a_appended_tx.send(());
                std::thread::sleep(HOLD_OPEN);
                Ok(position)
            })
            .unwrap();
            Instant::now()
        });
        a_appended.recv().unwrap();
        let b = scope.spawn(|| {
            let called = Instant::now();
            write(second, |tx| write_one(tx, &b_device, RecordId::new())).unwrap();
            let _ = b_committed_tx.send(Instant::now());
            called
        });
        // As soon as B committed (or A let go, whichever the backend allows first), scan.
        let _ = b_committed.recv_timeout(HOLD_OPEN * 10);
        let seen = scan(reader, &agency, 0);
        (seen, a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        b_called_at < a_committed_at,
        "the race was set up: B began while A held its position uncommitted"
    );
    let everything = scan(reader, &agency, 0);
    assert_eq!(everything.len(), 2, "both operations committed");
    // The cursor moves to the last position the first scan returned, and goes on from there.
    let cursor = first_scan.last().copied().unwrap_or(0);
    let mut seen_by_cursor = first_scan;
    seen_by_cursor.extend(scan(reader, &agency, cursor));
    assert_eq!(
        seen_by_cursor, everything,
        "a cursor that moved past what it saw still gets every position"
    );
}
