//! The unlock guard against real SQLite files: delays that survive restarts and file copies,
//! an edited count detected at the next correct unlock, the erase limit, the lease, and
//! deleted values leaving the file. Time is moved by a test clock; nothing sleeps.

mod common;

use common::*;
use fieldcase_core::device_policy::DevicePolicy;
use fieldcase_core::store::{Store, StoreError, UnlockClock};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Where the failure count starts in the guard record (after the keyed fields and the MAC).
const FAILURES_AT: usize = 78;

/// A clock that moves only when told to.
struct TestClock(AtomicU64);

impl TestClock {
    fn new() -> Arc<TestClock> {
        Arc::new(TestClock(AtomicU64::new(1_800_000_000_000)))
    }
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl UnlockClock for TestClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn create(path: &Path, clock: &Arc<TestClock>) -> Store {
    Store::create_with_clock(
        path,
        PASSPHRASE,
        None,
        identity(1, "iom_uga"),
        &options(),
        clock.clone(),
    )
    .unwrap()
}

fn open(path: &Path, passphrase: &str, clock: &Arc<TestClock>) -> Result<Store, StoreError> {
    Store::open_with_clock(path, passphrase, None, &options(), clock.clone())
}

fn fail(path: &Path, clock: &Arc<TestClock>) -> StoreError {
    open(path, "not the passphrase", clock).unwrap_err()
}

fn retry_after(error: StoreError) -> Duration {
    match error {
        StoreError::TooSoon { retry_after } => retry_after,
        other => panic!("expected TooSoon, got {other:?}"),
    }
}

fn guard_bytes(path: &Path) -> Vec<u8> {
    Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'unlock_guard'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

fn set_guard_bytes(path: &Path, bytes: &[u8]) {
    Connection::open(path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'unlock_guard'",
            [bytes],
        )
        .unwrap();
}

#[test]
fn failed_unlocks_slow_down_exponentially_after_the_free_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();

    for _ in 0..3 {
        assert!(matches!(fail(&path, &clock), StoreError::WrongPassphrase));
    }
    // The fourth attempt is refused without trying, even with the right passphrase.
    let wait = retry_after(open(&path, PASSPHRASE, &clock).unwrap_err());
    assert_eq!(wait, Duration::from_secs(30));
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        retry_after(fail(&path, &clock)),
        Duration::from_secs(20),
        "a refused attempt does not restart the delay"
    );
    clock.advance(Duration::from_secs(20));
    assert!(matches!(fail(&path, &clock), StoreError::WrongPassphrase));
    assert_eq!(retry_after(fail(&path, &clock)), Duration::from_secs(60));
    clock.advance(Duration::from_secs(60));
    assert!(matches!(fail(&path, &clock), StoreError::WrongPassphrase));
    assert_eq!(retry_after(fail(&path, &clock)), Duration::from_secs(120));

    // The unlock screen can say so without a passphrase.
    let locked = Store::open_locked(&path, &options(), clock.clone()).unwrap();
    let status = locked.guard_status().unwrap();
    assert_eq!(status.failed_attempts, 5);
    assert_eq!(status.retry_after, Duration::from_secs(120));
    assert_eq!(status.attempts_before_erase, 5);
    drop(locked);

    clock.advance(Duration::from_secs(120));
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    let report = store.last_unlock_report();
    assert_eq!(report.failed_attempts, 5);
    assert!(!report.guard_tampered);
    assert_eq!(store.guard_status().unwrap().failed_attempts, 0);
    store.close().unwrap();
    // A correct unlock starts the count again: three free attempts.
    for _ in 0..3 {
        assert!(matches!(fail(&path, &clock), StoreError::WrongPassphrase));
    }
}

#[test]
fn a_copy_of_the_file_after_three_failures_still_demands_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();
    for _ in 0..3 {
        fail(&path, &clock);
    }
    // Only the main file is copied: the count must not be left behind in the WAL.
    let copy = store_path(dir.path(), "copy");
    std::fs::copy(&path, &copy).unwrap();
    assert!(!Path::new(&format!("{}-wal", copy.display())).exists());
    assert_eq!(
        retry_after(open(&copy, PASSPHRASE, &clock).unwrap_err()),
        Duration::from_secs(30)
    );
    // And a restart of the original too.
    assert_eq!(
        retry_after(open(&path, PASSPHRASE, &clock).unwrap_err()),
        Duration::from_secs(30)
    );
}

#[test]
fn an_attempt_is_counted_while_the_store_is_open_and_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    let mut store = create(&path, &clock);
    store.lock();
    for _ in 0..3 {
        assert!(matches!(
            store.unlock("nope", None),
            Err(StoreError::WrongPassphrase)
        ));
    }
    // The count is in the main file while the store is still open.
    let copy = store_path(dir.path(), "copy");
    std::fs::copy(&path, &copy).unwrap();
    assert!(matches!(
        open(&copy, PASSPHRASE, &clock),
        Err(StoreError::TooSoon { .. })
    ));
    assert!(matches!(
        store.unlock(PASSPHRASE, None),
        Err(StoreError::TooSoon { .. })
    ));
    assert!(store.is_locked());
}

#[test]
fn a_failure_count_edited_in_the_file_is_detected_at_the_next_correct_unlock() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();
    for _ in 0..3 {
        fail(&path, &clock);
    }
    let mut edited = guard_bytes(&path);
    edited[FAILURES_AT..FAILURES_AT + 4].copy_from_slice(&0u32.to_le_bytes());
    set_guard_bytes(&path, &edited);

    // The edit buys the attacker the attempt (the count is read before the key is known)...
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    // ...but the correct unlock sees it, and says so on every sync from now on.
    assert!(store.last_unlock_report().guard_tampered);
    assert!(store.next_store_report().unwrap().guard_tampered);
    store.close().unwrap();
    let again = open(&path, PASSPHRASE, &clock).unwrap();
    assert!(!again.last_unlock_report().guard_tampered, "reported once");
    assert!(again.next_store_report().unwrap().guard_tampered, "sticky");
}

#[test]
fn an_untouched_guard_is_not_reported_as_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();
    fail(&path, &clock);
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    assert_eq!(store.last_unlock_report().failed_attempts, 1);
    assert!(!store.last_unlock_report().guard_tampered);
    assert!(!store.next_store_report().unwrap().guard_tampered);
}

#[test]
fn a_deleted_guard_leaves_one_attempt_and_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();
    fail(&path, &clock);
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM meta WHERE key = 'unlock_guard'", [])
        .unwrap();
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    assert!(store.last_unlock_report().guard_tampered);
    store.close().unwrap();

    // Deleted again, a wrong guess is the last one.
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM meta WHERE key = 'unlock_guard'", [])
        .unwrap();
    assert!(matches!(fail(&path, &clock), StoreError::Erased));
}

#[test]
fn reaching_the_limit_erases_the_store_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    let mut store = create(&path, &clock);
    store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store
        .apply_device_policy(DevicePolicy {
            erase_after_failures: 5,
            lease_days: 0,
        })
        .unwrap();
    store.close().unwrap();
    let conn = Connection::open(&path).unwrap();
    let envelope: Vec<u8> = conn
        .query_row("SELECT value FROM meta WHERE key = 'envelope'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let sealed_case: Vec<u8> = conn
        .query_row("SELECT state FROM records LIMIT 1", [], |r| r.get(0))
        .unwrap();
    drop(conn);

    for attempt in 1..=4 {
        assert!(
            matches!(fail(&path, &clock), StoreError::WrongPassphrase),
            "attempt {attempt}"
        );
        clock.advance(Duration::from_secs(3600));
    }
    assert!(matches!(fail(&path, &clock), StoreError::Erased));
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        open(&path, PASSPHRASE, &clock),
        Err(StoreError::Erased)
    ));
    assert!(matches!(
        Store::open_locked(&path, &options(), clock.clone()),
        Err(StoreError::Erased)
    ));
    let bytes = database_bytes(&path);
    assert!(!contains(&bytes, &envelope), "the wrapped key is gone");
    assert!(
        !contains(&bytes, &sealed_case[..64]),
        "the sealed case is gone"
    );
    let rows: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn a_policy_out_of_bounds_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let store = create(&store_path(dir.path(), "a"), &clock);
    let before = store.device_policy().unwrap();
    let error = store
        .apply_device_policy(DevicePolicy {
            erase_after_failures: 1,
            lease_days: 0,
        })
        .unwrap_err();
    assert!(matches!(error, StoreError::Policy(_)), "{error:?}");
    assert_eq!(store.device_policy().unwrap(), before);
}

#[test]
fn a_lapsed_lease_locks_the_store_until_the_server_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    let mut store = create(&path, &clock);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store
        .apply_device_policy(DevicePolicy {
            erase_after_failures: 10,
            lease_days: 3,
        })
        .unwrap();
    store.record_server_contact().unwrap();
    store.close().unwrap();

    clock.advance(Duration::from_millis(3 * DAY_MS));
    open(&path, PASSPHRASE, &clock).unwrap().close().unwrap();
    clock.advance(Duration::from_millis(DAY_MS));
    assert!(matches!(
        open(&path, PASSPHRASE, &clock),
        Err(StoreError::LeaseExpired { days: 3 })
    ));
    // A wrong passphrase is still counted and refused as usual.
    assert!(matches!(
        Store::open_for_lease_renewal(&path, "nope", None, &options(), clock.clone()),
        Err(StoreError::WrongPassphrase)
    ));
    let mut held =
        Store::open_for_lease_renewal(&path, PASSPHRASE, None, &options(), clock.clone()).unwrap();
    assert!(held.is_held_for_lease_renewal());
    assert!(matches!(held.get_case(&id), Err(StoreError::Locked)));
    assert!(
        held.server().is_ok(),
        "the renewal may read the server record"
    );
    held.finish_lease_renewal().unwrap();
    assert!(held.get_case(&id).is_ok());
    held.close().unwrap();
    assert!(open(&path, PASSPHRASE, &clock).is_ok());
}

#[test]
fn the_rollback_counter_only_moves_forward_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    let store = create(&path, &clock);
    let first = store.next_store_report().unwrap().counter;
    let second = store.next_store_report().unwrap().counter;
    assert!(second > first);
    store.close().unwrap();
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    assert!(store.next_store_report().unwrap().counter > second);
}

#[test]
fn a_deleted_value_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    let mut store = create(&path, &clock);
    store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.checkpoint().unwrap();
    let sealed_op: Vec<u8> = Connection::open(&path)
        .unwrap()
        .query_row("SELECT op FROM outbox LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert!(contains(&database_bytes(&path), &sealed_op));
    // The server acknowledged it: the outbox row is deleted.
    store.acknowledge(1, &[]).unwrap();
    store.close().unwrap();
    assert!(
        !contains(&database_bytes(&path), &sealed_op),
        "secure_delete zeroes a deleted row's bytes"
    );
}

#[test]
fn a_store_made_before_guards_gets_one_without_being_reported_as_tampered() {
    use fieldcase_core::crypto::KeyEnvelope;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let clock = TestClock::new();
    create(&path, &clock).close().unwrap();
    // Made as an older build made it: an envelope without the "guarded" flag, no guard row.
    let conn = Connection::open(&path).unwrap();
    let meta = |key: &str| -> Vec<u8> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .unwrap()
    };
    let store_id = meta("store_id");
    let envelope = KeyEnvelope::from_bytes(&meta("envelope")).unwrap();
    let dek = envelope
        .unwrap_key(PASSPHRASE.as_bytes(), None, &store_id)
        .unwrap();
    let old =
        KeyEnvelope::wrap(&dek, PASSPHRASE.as_bytes(), None, envelope.kdf, &store_id).unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'envelope'",
        [old.to_bytes()],
    )
    .unwrap();
    conn.execute("DELETE FROM meta WHERE key = 'unlock_guard'", [])
        .unwrap();
    drop(conn);

    assert!(matches!(fail(&path, &clock), StoreError::WrongPassphrase));
    let store = open(&path, PASSPHRASE, &clock).unwrap();
    assert_eq!(store.last_unlock_report().failed_attempts, 1);
    assert!(!store.last_unlock_report().guard_tampered);
    store.close().unwrap();
    // From now on it is guarded: deleting the guard is noticed.
    let guarded = KeyEnvelope::from_bytes(
        &Connection::open(&path)
            .unwrap()
            .query_row("SELECT value FROM meta WHERE key = 'envelope'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .unwrap(),
    )
    .unwrap();
    assert!(guarded.guarded());
}

#[test]
fn a_failed_unlock_of_an_unlocked_store_keeps_it_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mut store = create(&store_path(dir.path(), "a"), &clock);
    assert!(matches!(
        store.unlock("nope", None),
        Err(StoreError::WrongPassphrase)
    ));
    assert!(!store.is_locked());
}
