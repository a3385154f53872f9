//! Failing the Nth storage write of a pushed page and of a referral transition, for N = 1,
//! 2, … until the operation has no write left to fail, on SQLite and on PostgreSQL: the
//! service answers with the typed error, stops at the failed write, and leaves the database
//! exactly as it was (every table's rows; on SQLite also `PRAGMA integrity_check`; the audit
//! chain still verifies); with the fault removed the same operation succeeds.
//!
//! Two faults: the port call fails instead of writing, or it fails after the database wrote
//! (only the transaction's rollback can then undo it). And in the database itself, a trigger
//! that raises on the Nth row written fails statements in the middle of a port call.
//!
//! And the whole scan of the match blocks held, to see what the first reviewer of a large
//! caseload is served while its first comparison runs ([`first_look`]).

mod faulty;
mod first_look;
mod rows;
mod snapshot;

use faulty::{Fault, FaultyStorage, INJECTED};
use fieldcase_core::protocol::{CommandOutcome, ReferralCommand};
use fieldcase_core::referral::{ReferralStatus, Transition};
use fieldcase_core::{FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::seal::Sealer;
use fieldcase_server::service::{self, Service};
use fieldcase_server::storage::conformance::{enrolled_device, NOW};
use fieldcase_server::storage::postgres::testing::{temp_postgres, TempPostgres};
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{DeviceAuth, Storage, StorageError};
use rows::RowFaults;
use serde_json::{json, Value};
use snapshot::Snapshot;

/// An operation of `device` with `fields`.
fn op(
    device: &DeviceAuth,
    seq: u64,
    kind: RecordKind,
    record: RecordId,
    fields: Value,
) -> Operation {
    Operation {
        op_id: OpId {
            device: device.id,
            seq,
        },
        kind,
        record_id: record,
        hlc: Hlc {
            wall_ms: NOW - 1000 + seq,
            counter: 0,
            device: device.id,
        },
        fields: fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let change = FieldChange::fresh(v.clone());
                (k.clone(), change)
            })
            .collect(),
    }
}

fn new_case(device: &DeviceAuth, seq: u64, record: RecordId, name: &str) -> Operation {
    op(
        device,
        seq,
        RecordKind::Case,
        record,
        json!({
            "given_name": name,
            "sex": "female",
            "nationality": "UGA",
            "consent.data_sharing": ["agency_b"],
        }),
    )
}

fn referral(
    device: &DeviceAuth,
    seq: u64,
    id: RecordId,
    case: RecordId,
    transfer: bool,
) -> Operation {
    op(
        device,
        seq,
        RecordKind::Referral,
        id,
        json!({
            "case_id": case.to_string(),
            "from_agency": device.agency.as_str(),
            "to_agency": "agency_b",
            "services": ["shelter"],
            "reason": "needs a bed",
            "urgency": "high",
            "shared_fields": ["sex", "given_name"],
            "transfer": transfer,
            "share_back": false,
            "created_by": "staff",
            "created_on": "2025-10-01",
        }),
    )
}

/// Where a write fails.
#[derive(Clone, Copy)]
enum Injection<'a> {
    /// The Nth write call of the port (both kinds, each on a fresh database).
    Port(Fault),
    /// The Nth row written to the database.
    Rows(&'a RowFaults),
}

impl std::fmt::Debug for Injection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Injection::Port(fault) => write!(f, "port call, {fault:?}"),
            Injection::Rows(_) => f.write_str("row in the database"),
        }
    }
}

const PORT_FAULTS: [Fault; 2] = [Fault::Instead, Fault::After];

/// Runs `operation` with its 1st, 2nd, … write failing as `injection` says, checking each
/// failure, until it succeeds; returns its result and how many writes it made.
fn fail_each_write<S, T>(
    storage: &FaultyStorage<S>,
    snapshot: &dyn Fn() -> Snapshot,
    injection: Injection<'_>,
    what: &str,
    operation: impl Fn(&dyn Storage) -> Result<T, StorageError>,
) -> (T, u64)
where
    S: std::ops::Deref + Send + Sync + 'static,
    S::Target: Storage,
{
    assert!(service::audit::verify(storage, &[]).unwrap().intact());
    for n in 1.. {
        let before = snapshot();
        match injection {
            Injection::Port(fault) => storage.arm(n, fault),
            Injection::Rows(rows) => rows.arm(n),
        }
        let result = operation(storage);
        // Port: the write calls made. Rows: what is left of the countdown (n after a rollback,
        // n - rows written after a commit).
        let (failed_at_n, succeeded_after) = match injection {
            Injection::Port(_) => {
                let writes = storage.disarm();
                (writes == n, (writes == n - 1).then_some(writes))
            }
            Injection::Rows(rows) => {
                let left = rows.disarm();
                (left == n as i64, (left == 1).then_some(n - 1))
            }
        };
        match result {
            Ok(value) => {
                let Some(writes) = succeeded_after else {
                    panic!("{what} ({injection:?}): write {n} failed and the operation still succeeded");
                };
                eprintln!("{what} ({injection:?}): {writes} writes, each failed in turn");
                return (value, writes);
            }
            Err(StorageError::Backend(message)) if message.contains(INJECTED) => {
                assert!(
                    failed_at_n,
                    "{what} ({injection:?}): write {n} failed, yet the service wrote on or committed"
                );
                let after = snapshot();
                if let Some(difference) = before.difference(&after) {
                    panic!("{what} ({injection:?}): write {n} failed, yet {difference}");
                }
                assert!(
                    service::audit::verify(storage, &[]).unwrap().intact(),
                    "{what} ({injection:?}): write {n} failed and the audit chain broke"
                );
            }
            Err(other) => panic!("{what} ({injection:?}): write {n} failed with {other:?}"),
        }
        assert!(n < 1000, "{what}: never succeeded");
    }
    unreachable!()
}

/// A device pushes a page: an edit of a case it pushed before, a new case, a service, and a
/// referral of the new case (which writes the referral, the receiving agency's access, copies
/// of the shared fields, and audit entries).
fn push_page<S>(storage: &FaultyStorage<S>, snapshot: &dyn Fn() -> Snapshot, fault: Injection<'_>)
where
    S: std::ops::Deref + Send + Sync + 'static,
    S::Target: Storage,
{
    let service: &dyn Storage = storage;
    let a = enrolled_device(storage, "agency_a");
    let b = enrolled_device(storage, "agency_b");
    let (kept, new, service_id, referral_id) = (
        RecordId::new(),
        RecordId::new(),
        RecordId::new(),
        RecordId::new(),
    );
    let first = service
        .push(&a, &[new_case(&a, 1, kept, "Firstmarker")], NOW)
        .unwrap();
    assert_eq!(first.applied, 1);
    let page = [
        op(
            &a,
            2,
            RecordKind::Case,
            kept,
            json!({"sex": "male", "risk_level": "high"}),
        ),
        new_case(&a, 3, new, "Secondmarker"),
        op(
            &a,
            4,
            RecordKind::Service,
            service_id,
            json!({
                "case_id": new.to_string(),
                "service_type": "shelter",
                "date": "2025-10-02",
                "provider_agency": "agency_a",
            }),
        ),
        referral(&a, 5, referral_id, new, false),
    ];
    let (outcome, writes) = fail_each_write(storage, snapshot, fault, "pushed page", |s| {
        s.push(&a, &page, NOW)
    });
    assert!(outcome.rejections.is_empty(), "{:?}", outcome.rejections);
    assert_eq!((outcome.applied, outcome.acked_through), (4, 5));
    assert!(writes >= 10, "the page made {writes} write calls");
    let devices = storage.list_devices(None).unwrap();
    assert_eq!(
        devices.iter().find(|d| d.id == a.id).unwrap().last_seq,
        5,
        "the device's progress committed with the page"
    );
    // The receiving agency gets the referral and the shared fields.
    let pulled = service.pull(&b, 0, 100).unwrap();
    assert!(pulled.ops.iter().any(|o| o.record_id == referral_id));
    assert!(pulled.ops.iter().any(|o| o.record_id == new));
}

/// The receiving agency accepts a transfer: the referral's status compare-and-set, the
/// case's new owner, the access that ends, server-written status operations, the command's
/// recorded outcome and audit entries — all or nothing.
fn referral_transition<S>(
    storage: &FaultyStorage<S>,
    snapshot: &dyn Fn() -> Snapshot,
    fault: Injection<'_>,
) where
    S: std::ops::Deref + Send + Sync + 'static,
    S::Target: Storage,
{
    let service: &dyn Storage = storage;
    let a = enrolled_device(storage, "agency_a");
    let b = enrolled_device(storage, "agency_b");
    let (case, referral_id) = (RecordId::new(), RecordId::new());
    let pushed = service
        .push(
            &a,
            &[
                new_case(&a, 1, case, "Thirdmarker"),
                referral(&a, 2, referral_id, case, true),
            ],
            NOW,
        )
        .unwrap();
    assert!(pushed.rejections.is_empty(), "{:?}", pushed.rejections);
    let accept = [ReferralCommand {
        command_id: OpId {
            device: b.id,
            seq: 1,
        },
        referral_id,
        transition: Transition::Accept,
        expected_status: ReferralStatus::Sent,
        reason: None,
    }];
    let (results, writes) = fail_each_write(storage, snapshot, fault, "accepted transfer", |s| {
        s.apply_commands(&b, &accept, NOW + 10)
    });
    assert_eq!(
        results[0].outcome,
        CommandOutcome::Applied {
            status: ReferralStatus::Accepted
        }
    );
    assert!(writes >= 4, "the transition made {writes} write calls");
    // Answered once: a resent command gets the recorded outcome and writes nothing.
    let again = service.apply_commands(&b, &accept, NOW + 20).unwrap();
    assert_eq!(again, results);
    // The case now belongs to the receiving agency: its later edits are accepted.
    let edit = op(&b, 1, RecordKind::Case, case, json!({"risk_level": "low"}));
    let edited = service.push(&b, &[edit], NOW + 30).unwrap();
    assert!(edited.rejections.is_empty(), "{:?}", edited.rejections);
}

fn sqlite(dir: &std::path::Path) -> FaultyStorage<Box<SqliteStorage>> {
    let storage = SqliteStorage::open(&dir.join("server.db"), Sealer::from_key(&[7; 32])).unwrap();
    FaultyStorage::new(Box::new(storage))
}

fn postgres() -> FaultyStorage<TempPostgres> {
    FaultyStorage::new(temp_postgres())
}

/// A scenario of this file, run against one storage with one way of failing.
type Scenario<S> = fn(&FaultyStorage<S>, &dyn Fn() -> Snapshot, Injection<'_>);

/// Runs `scenario` on fresh SQLite storage once per port fault, then with row faults.
fn on_sqlite(scenario: Scenario<Box<SqliteStorage>>) {
    for fault in PORT_FAULTS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        scenario(
            &sqlite(dir.path()),
            &|| Snapshot::of_sqlite(&path),
            Injection::Port(fault),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let storage = sqlite(dir.path());
    let rows = RowFaults::sqlite(&path, INJECTED);
    scenario(
        &storage,
        &|| Snapshot::of_sqlite(&path),
        Injection::Rows(&rows),
    );
}

/// Runs `scenario` on a fresh PostgreSQL database once per port fault, then with row faults.
fn on_postgres(scenario: Scenario<TempPostgres>) {
    for fault in PORT_FAULTS {
        let storage = postgres();
        let config = storage.inner().database().config();
        scenario(
            &storage,
            &|| Snapshot::of_postgres(&config),
            Injection::Port(fault),
        );
    }
    let storage = postgres();
    let config = storage.inner().database().config();
    let rows = RowFaults::postgres(&config, INJECTED);
    scenario(
        &storage,
        &|| Snapshot::of_postgres(&config),
        Injection::Rows(&rows),
    );
}

#[test]
fn sqlite_a_failed_write_of_a_pushed_page_changes_nothing() {
    on_sqlite(push_page);
}

#[test]
fn sqlite_a_failed_write_of_a_referral_transition_changes_nothing() {
    on_sqlite(referral_transition);
}

#[test]
fn postgres_a_failed_write_of_a_pushed_page_changes_nothing() {
    on_postgres(push_page);
}

#[test]
fn postgres_a_failed_write_of_a_referral_transition_changes_nothing() {
    on_postgres(referral_transition);
}
