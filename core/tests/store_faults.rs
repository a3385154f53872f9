//! Failing the Nth storage write of a save, of a pulled sync page and of a referral transition
//! — for N = 1, 2, … until the operation has no write left to fail — gives a typed error, a
//! file that passes `PRAGMA integrity_check`, and exactly the state from before the attempt;
//! with the fault removed, the same operation succeeds.
//!
//! The fault is real SQLite behaviour on the real store file, not a mock: the test installs,
//! through a second connection, a `BEFORE INSERT/UPDATE/DELETE` trigger on every table of the
//! store that counts row writes down in a table of its own and raises `RAISE(ABORT)` at zero.
//! The store's own connection runs those triggers inside its transactions, so the Nth row
//! written by an operation fails like a full disk or an I/O error would fail that statement.

mod common;
use common::*;
use fieldcase_core::model::{Date, Note, Service, ServiceType};
use fieldcase_core::protocol::{CommandOutcome, CommandResult, PURGED_FIELD};
use fieldcase_core::referral::{HistoryEntry, ReferralStatus, ServerState, Transition, Urgency};
use fieldcase_core::store::{NewReferral, SearchQuery, Store, StoreError};
use fieldcase_core::{AgencyCode, Operation, RecordId, RecordKind};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// The message the injected fault raises; the store must pass it on as its typed error.
const FAULT: &str = "injected write fault";

/// Write faults on one store file: a countdown of row writes and the triggers that spend it.
struct Faults {
    conn: Connection,
}

impl Faults {
    /// Installs a countdown trigger on every table of the store at `path` (disarmed).
    fn install(path: &Path) -> Faults {
        let conn = Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(tables.len() >= 10, "the store's tables: {tables:?}");
        let mut sql = String::from(
            "CREATE TABLE fault_countdown (n INTEGER NOT NULL);
             INSERT INTO fault_countdown VALUES (-1);",
        );
        for table in &tables {
            for event in ["INSERT", "UPDATE", "DELETE"] {
                // A negative countdown (disarmed) only goes further down and never reaches 0.
                sql.push_str(&format!(
                    "CREATE TRIGGER fault_{table}_{event} BEFORE {event} ON \"{table}\" BEGIN
                         UPDATE fault_countdown SET n = n - 1;
                         SELECT RAISE(ABORT, '{FAULT}') WHERE (SELECT n FROM fault_countdown) = 0;
                     END;"
                ));
            }
        }
        conn.execute_batch(&sql).unwrap();
        Faults { conn }
    }

    /// Makes the `n`th row write from now on fail.
    fn arm(&self, n: i64) {
        self.conn
            .execute("UPDATE fault_countdown SET n = ?1", [n])
            .unwrap();
    }

    /// Stops failing writes; returns what was left of the countdown.
    fn disarm(&self) -> i64 {
        let left = self
            .conn
            .query_row("SELECT n FROM fault_countdown", [], |r| r.get(0))
            .unwrap();
        self.conn
            .execute("UPDATE fault_countdown SET n = -1", [])
            .unwrap();
        left
    }

    /// Every row of every table of the store (not the fault's own), each table's rows sorted,
    /// and the schema: what "nothing changed" is compared on.
    fn state(&self) -> BTreeMap<String, Vec<String>> {
        let tables: Vec<String> = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'fault_countdown'",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut state = BTreeMap::new();
        for table in tables {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT * FROM \"{table}\""))
                .unwrap();
            let columns = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |row| {
                    (0..columns)
                        .map(|i| row.get::<_, SqlValue>(i))
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|values| format!("{values:?}"))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            rows.sort();
            state.insert(table, rows);
        }
        let schema: Vec<String> = self
            .conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        state.insert("(schema)".into(), schema);
        state
    }

    fn assert_integrity(&self, what: &str) {
        let answer: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(answer, ["ok"], "{what}: integrity check");
    }
}

/// Runs `operation` with its 1st, 2nd, … row write failing, checking each failure, until it
/// succeeds; returns its result and how many rows it wrote. The operation must do the same
/// writes each time it is tried (it is retried on exactly the state it failed on).
fn fail_each_write<T>(
    store: &mut Store,
    faults: &Faults,
    what: &str,
    mut operation: impl FnMut(&mut Store) -> Result<T, StoreError>,
) -> (T, i64) {
    for n in 1.. {
        let before = faults.state();
        faults.arm(n);
        let result = operation(store);
        let left = faults.disarm();
        match result {
            Ok(value) => {
                // Every earlier write was failed in turn: it wrote exactly n - 1 rows.
                assert_eq!(left, 1, "{what}: the writes differ between attempts");
                eprintln!("{what}: {} row writes, each failed in turn", n - 1);
                return (value, n - 1);
            }
            Err(error) => {
                match &error {
                    StoreError::Database(message) => assert!(
                        message.contains(FAULT),
                        "{what}: write {n} failed with another database error: {message}"
                    ),
                    other => panic!("{what}: write {n} failed with {other:?}"),
                }
                // The countdown is written in the operation's transaction: rolled back whole,
                // it is back where it was armed.
                assert_eq!(
                    left, n,
                    "{what}: write {n} failed, yet its transaction committed"
                );
                faults.assert_integrity(&format!("{what}, write {n} failed"));
                store.integrity_check().unwrap();
                assert!(
                    faults.state() == before,
                    "{what}: write {n} failed, yet the store changed"
                );
            }
        }
        assert!(n < 10_000, "{what}: never succeeded");
    }
    unreachable!()
}

fn agency(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

fn store_of(dir: &Path, name: &str, device: u8, agency_code: &str) -> Store {
    Store::create(
        &store_path(dir, name),
        PASSPHRASE,
        None,
        identity(device, agency_code),
        &options(),
    )
    .unwrap()
}

/// A shelter service given today by the sample agency.
fn shelter(case_id: RecordId) -> Service {
    Service::new(
        case_id,
        ServiceType::Shelter,
        Date::today(),
        agency("iom_uga"),
        None,
    )
    .unwrap()
}

/// The sequence numbers waiting in the outbox, in order.
fn outbox_seqs(store: &Store) -> Vec<u64> {
    store
        .pending_ops(1000)
        .unwrap()
        .iter()
        .map(|op| op.op_id.seq)
        .collect()
}

/// The server's status operation on a referral.
fn referral_status(
    referral: RecordId,
    seq: u64,
    status: ReferralStatus,
    transition: Option<Transition>,
    by: &str,
) -> Operation {
    let state = ServerState {
        status: Some(status),
        reason: None,
        history: vec![HistoryEntry {
            status,
            transition,
            agency: agency(by),
            user: Some("staff-1".into()),
            at_ms: fieldcase_core::hlc::now_ms(),
            reason: None,
        }],
    };
    server_op(
        seq,
        RecordKind::Referral,
        referral,
        serde_json::to_value(state.to_fields()).unwrap(),
    )
}

#[test]
fn a_failed_write_of_a_save_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let kept = store
        .create_case(&case("Grace", "Achieng", "+256 772 000001", "K0000001"))
        .unwrap();
    let faults = Faults::install(&store_path(dir.path(), "a"));

    // A new case: record, summary, search tokens, outbox entry, device state.
    let created = case("Amina", "Nakato", "+256 772 123456", "B1234567");
    let (id, writes) =
        fail_each_write(&mut store, &faults, "new case", |s| s.create_case(&created));
    assert!(writes >= 5, "a new case wrote only {writes} rows");
    assert_eq!(
        store.get_case(&id).unwrap().fields["given_name"],
        json!("Amina")
    );

    // An edit that changes indexed fields: old tokens out, new tokens in, summary rewritten.
    let changes: fieldcase_core::model::Fields = [
        ("family_name".to_owned(), json!("Nakimuli")),
        ("phone".to_owned(), json!("+256 772 654321")),
    ]
    .into();
    let (op, writes) = fail_each_write(&mut store, &faults, "case edit", |s| {
        s.update_case(&id, changes.clone())
    });
    assert!(op.is_some() && writes >= 5, "an edit wrote {writes} rows");
    let query = fieldcase_core::store::SearchQuery::Name("nakimuli".into());
    assert_eq!(store.search(&query).unwrap().len(), 1);

    // A service and a note on the case.
    let service = shelter(id);
    fail_each_write(&mut store, &faults, "service", |s| s.add_service(&service));
    let note = Note::new(
        id,
        "Called back; safe at the shelter.".into(),
        Date::today(),
        "user-1".into(),
    )
    .unwrap();
    fail_each_write(&mut store, &faults, "note", |s| s.add_note(&note));

    // An attachment: its record, sealed chunks and outbox entry, all or nothing.
    let photo = {
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        png.extend((0..200_000u32).map(|i| (i * 7 % 251) as u8));
        png
    };
    let (attachment, writes) = fail_each_write(&mut store, &faults, "attachment", |s| {
        s.add_attachment(&id, "image/png", photo.as_slice(), Some("ID card"))
    });
    assert!(writes >= 3, "an attachment wrote {writes} rows");
    assert_eq!(*store.read_attachment(&attachment).unwrap(), photo);

    // No sequence number was used up by a failed save: the outbox numbers on without a gap
    // (an attachment's bytes travel apart from it).
    assert_eq!(outbox_seqs(&store), (1..=5).collect::<Vec<_>>());
    assert_eq!(
        store.get_case(&kept).unwrap().fields["given_name"],
        json!("Grace")
    );
    assert_eq!(store.count_cases(None).unwrap(), 2);
}

#[test]
fn a_failed_write_of_a_pulled_page_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    // Both devices hold the same case; the server has acknowledged it.
    let shared = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let gone = a
        .create_case(&case("Grace", "Achieng", "+256 772 000001", "K0000001"))
        .unwrap();
    b.apply_remote(&a.pending_ops(10).unwrap(), "c0").unwrap();
    a.acknowledge(2, &[]).unwrap();
    // Concurrent edits of the same field: applying B's makes a conflict on A.
    a.update_case(
        &shared,
        [("phone".to_owned(), json!("+256 772 111111"))].into(),
    )
    .unwrap();
    b.update_case(
        &shared,
        [("phone".to_owned(), json!("+256 772 222222"))].into(),
    )
    .unwrap();
    b.create_case(&case("Joy", "Auma", "+256 772 000002", "K0000002"))
        .unwrap();
    b.add_service(&shelter(shared)).unwrap();

    // The page: B's edit, new case and service, and the server's purge notice of a case.
    let mut page = b.pending_ops(10).unwrap();
    assert_eq!(page.len(), 3);
    page.push(server_op(
        1,
        RecordKind::Case,
        gone,
        json!({ PURGED_FIELD: true }),
    ));
    let faults = Faults::install(&store_path(dir.path(), "a"));
    let (report, writes) = fail_each_write(&mut a, &faults, "pulled page", |s| {
        s.apply_remote(&page, "c1")
    });
    assert!(writes >= 10, "the page wrote only {writes} rows");
    assert_eq!(report.records_changed, 3);
    assert_eq!(report.new_conflicts, 1);
    assert_eq!(report.cases_purged, 1);
    assert_eq!(a.cursor().unwrap().as_deref(), Some("c1"));
    assert_eq!(a.count_cases(None).unwrap(), 2);
    assert_eq!(a.list_conflicts().unwrap().len(), 1);
    assert!(matches!(
        a.get_case(&gone),
        Err(StoreError::NoSuchRecord { .. })
    ));
    // Its blind-index tokens went with it: nothing leads to it by name, phone or document.
    for query in [
        SearchQuery::Name("Grace Achieng".into()),
        SearchQuery::Name("Gra".into()),
        SearchQuery::Phone("+256 772 000001".into()),
        SearchQuery::Document("K0000001".into()),
    ] {
        assert!(a.search(&query).unwrap().is_empty(), "{query:?}");
    }
    let raw = Connection::open(store_path(dir.path(), "a")).unwrap();
    let tokens_left: i64 = raw
        .query_row(
            "SELECT count(*) FROM search_index WHERE record_id = ?1",
            [&gone.as_bytes()[..]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tokens_left, 0);
    // The local edit is still waiting to be pushed, with its own number.
    assert_eq!(outbox_seqs(&a), vec![3]);
}

#[test]
fn a_failed_write_while_a_sync_indexes_its_new_cases_leaves_them_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store(dir.path(), "b", 2);
    let amina = b
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    b.create_case(&case("Joy", "Auma", "+256 772 000002", "K0000002"))
        .unwrap();
    let page = b.pending_ops(10).unwrap();
    let faults = Faults::install(&store_path(dir.path(), "a"));
    a.begin_sync_writes().unwrap();
    // The page inside a sync: rows, summaries and the pending list, all or nothing.
    fail_each_write(&mut a, &faults, "pulled page inside a sync", |s| {
        s.apply_remote(&page, "c1")
    });
    // The sync's end writes the tokens of both cases and empties the list in one transaction.
    let (_, writes) = fail_each_write(&mut a, &faults, "indexing a sync's new cases", |s| {
        s.end_sync_writes()
    });
    assert!(writes > 20, "indexing wrote only {writes} rows");
    let hits = a.search(&SearchQuery::Name("amina nakato".into())).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].summary.id, amina);
}

#[test]
fn a_failed_write_of_a_referral_transition_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = store_of(dir.path(), "b", 2, "iom_ken");
    let case_id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let faults_a = Faults::install(&store_path(dir.path(), "a"));
    // Making the referral is a save of its own.
    let new = NewReferral {
        case_id,
        to_agency: agency("iom_ken"),
        services: [ServiceType::Shelter].into(),
        reason: "Needs a safe place to stay".into(),
        urgency: Urgency::High,
        shared_fields: ["sex".to_owned(), "given_name".to_owned()].into(),
        transfer: true,
        share_back: false,
    };
    let (referral, _) = fail_each_write(&mut a, &faults_a, "new referral", |s| {
        s.create_referral(&new)
    });

    // The receiving agency gets it with the server's "sent" and the shared fields.
    let mut page = a.pending_ops(10).unwrap();
    page.push(referral_status(
        referral,
        1,
        ReferralStatus::Sent,
        None,
        "iom_uga",
    ));
    b.apply_remote(&page, "c1").unwrap();
    a.apply_remote(&page[page.len() - 1..], "c1").unwrap();
    let faults_b = Faults::install(&store_path(dir.path(), "b"));

    // Asking for the transition queues a command (and moves the command counter).
    fail_each_write(&mut b, &faults_b, "accept", |s| {
        s.request_transition(&referral, Transition::Accept, None)
    });
    let commands = b.pending_commands(10).unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(
        commands[0].command_id.seq, 1,
        "no command number was used up"
    );

    // The server's answer settles it: status, the transferred case's new owner, the command
    // dropped — in the page's one transaction.
    let answer = [referral_status(
        referral,
        2,
        ReferralStatus::Accepted,
        Some(Transition::Accept),
        "iom_ken",
    )];
    let results = [CommandResult {
        command_id: commands[0].command_id,
        outcome: CommandOutcome::Applied {
            status: ReferralStatus::Accepted,
        },
    }];
    let (report, writes) = fail_each_write(&mut b, &faults_b, "accepted", |s| {
        s.apply_reply(&answer, "c2", &results)
    });
    assert!(writes >= 3, "settling wrote only {writes} rows");
    assert_eq!(report.commands_applied, 1);
    let view = b.get_referral(&referral).unwrap();
    assert_eq!(view.status, ReferralStatus::Accepted);
    assert!(view.pending.is_empty());
    assert!(b.pending_commands(10).unwrap().is_empty());

    // The referring agency's device gets the same status: the transferred case changes
    // owner, with its summary, in that page's transaction.
    let (_, writes) = fail_each_write(&mut a, &faults_a, "transfer accepted", |s| {
        s.apply_remote(&answer, "c2")
    });
    assert!(writes >= 3, "the transfer wrote only {writes} rows");
    assert_eq!(
        a.get_referral(&referral).unwrap().status,
        ReferralStatus::Accepted
    );
    assert_eq!(a.get_case(&case_id).unwrap().owner_agency, "iom_ken");
    assert_eq!(a.case_summary(&case_id).unwrap().owner_agency, "iom_ken");
}
