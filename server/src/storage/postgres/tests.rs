//! PostgreSQL's own tests: the conformance suite, and what only a database several processes
//! share can show (concurrent migrations, races across handles, conflicts run again, nothing
//! stored in the clear).

use super::testing::temp_postgres;
use super::*;
use crate::reports::matching::BlockSlice;

// The conformance suite runs against PostgreSQL from `server/tests/storage_conformance.rs`, as
// another crate would run it, through the exported macro.

#[test]
fn a_reopened_database_keeps_its_epoch_and_refuses_another_key() {
    let store = temp_postgres();
    let config = store.database().config();
    let again = PostgresStorage::open(config.clone(), Sealer::from_key(&[3; 32])).unwrap();
    assert_eq!(
        again.epoch(),
        store.epoch(),
        "a second process sees the same epoch"
    );
    drop(again);
    assert!(matches!(
        PostgresStorage::open(config, Sealer::from_key(&[4; 32])),
        Err(StorageError::Integrity(_))
    ));
}

/// Published figures draw the same noise in every process sharing the database, and in either
/// backend under the same server key: the record keys come from the key, not from a process.
#[test]
fn every_process_and_backend_draws_the_same_record_keys() {
    use crate::reports::cellkey::UnitKind;
    let store = temp_postgres();
    let other = another_process(&store);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = crate::storage::sqlite::SqliteStorage::open(
        &dir.path().join("keys.db"),
        Sealer::from_key(&[3; 32]),
    )
    .unwrap();
    for _ in 0..20 {
        let id = fieldcase_core::RecordId::new();
        for kind in [UnitKind::Case, UnitKind::Service, UnitKind::Referral] {
            let key = store.cell_keys().of(kind, id);
            assert_eq!(other.cell_keys().of(kind, id), key);
            assert_eq!(sqlite.cell_keys().of(kind, id), key);
        }
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let store = temp_postgres();
    let config = store.database().config();
    let mut client = config.connect(::postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE schema_version SET version = $1",
            &[&(schema::SCHEMA_VERSION + 1)],
        )
        .unwrap();
    let refused = PostgresStorage::open(config, Sealer::from_key(&[3; 32]));
    assert!(matches!(refused, Err(StorageError::Backend(m)) if m.contains("newer")));
}

/// A second handle on the database of `store`, as another server process would hold.
fn another_process(store: &testing::TempPostgres) -> PostgresStorage {
    PostgresStorage::open(store.database().config(), Sealer::from_key(&[3; 32])).unwrap()
}

#[test]
fn processes_starting_at_once_migrate_the_database_once() {
    let database = testing::TempDatabase::create();
    let epochs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    PostgresStorage::open(database.config(), Sealer::from_key(&[3; 32]))
                        .unwrap()
                        .epoch()
                        .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        epochs.iter().all(|e| *e == epochs[0]),
        "one epoch: {epochs:?}"
    );
    let mut client = database.config().connect(::postgres::NoTls).unwrap();
    let versions: Vec<i64> = client
        .query("SELECT version FROM schema_version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![schema::SCHEMA_VERSION]);
}

#[test]
fn the_commit_order_race_is_closed_across_processes() {
    let store = temp_postgres();
    let (second, reader) = (another_process(&store), another_process(&store));
    crate::storage::conformance::commit_order_race_between(&*store, &second, &reader);
}

#[test]
fn a_duplicate_candidate_cache_follows_what_another_process_writes() {
    let store = temp_postgres();
    let other = another_process(&store);
    crate::storage::conformance::cached_duplicate_candidates_follow_writes_of(&*store, &other);
}

#[test]
fn a_long_duplicate_scan_is_served_while_a_newer_one_runs() {
    let store = temp_postgres();
    crate::storage::conformance::a_long_scan_is_served_while_a_newer_one_runs(std::sync::Arc::new(
        another_process(&store),
    ));
}

#[test]
fn a_long_duplicate_scan_saved_by_one_process_is_served_by_another() {
    let store = temp_postgres();
    let open = || -> std::sync::Arc<dyn crate::storage::Storage> {
        std::sync::Arc::new(another_process(&store))
    };
    crate::storage::conformance::a_saved_long_scan_is_served_after_a_restart(open(), open);
}

#[test]
fn operations_pushed_through_one_process_are_pulled_through_another() {
    use crate::service::Service;
    let store = temp_postgres();
    let other = another_process(&store);
    let a = crate::storage::conformance::enrolled_device(&*store, "agency_a");
    let b = crate::storage::conformance::enrolled_device(&other, "agency_a");
    let op = crate::storage::conformance::new_case_op(&a, 1, RecordId::new());
    let pushed = (&*store as &dyn Storage).push(
        &a,
        std::slice::from_ref(&op),
        crate::storage::conformance::NOW,
    );
    assert_eq!(pushed.unwrap().applied, 1);
    let page = (&other as &dyn Storage).pull(&b, 0, 10).unwrap();
    assert_eq!(page.ops, vec![op]);
    assert_eq!(other.log_end().unwrap(), store.log_end().unwrap());
}

#[test]
fn the_url_is_described_without_its_password() {
    let described = describe_url("postgres://alice:s3cret@db.internal:5432/fieldcase");
    assert!(!described.contains("s3cret"), "{described}");
    assert!(!described.contains("alice"), "{described}");
    assert!(described.contains("db.internal") && described.contains("fieldcase"));
}

#[test]
fn a_write_that_loses_a_conflict_runs_again_and_sees_the_winner() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let store = temp_postgres();
    let d = crate::storage::conformance::enrolled_device(&*store, "agency_a");
    let attempts = AtomicU32::new(0);
    let last_seq = crate::storage::write(&*store, |tx| {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let seen = tx.device_progress(d.id)?.expect("enrolled").last_seq;
        if attempt == 1 {
            // Another transaction changes the same row and commits while this one is open.
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        crate::storage::write(&*store, |other| {
                            other.set_device_progress(d.id, 7, 1)
                        })
                    })
                    .join()
                    .unwrap()
            })?;
        }
        tx.set_device_progress(d.id, seen + 1, 2)?;
        Ok(seen + 1)
    })
    .unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "the loser ran once more"
    );
    assert_eq!(last_seq, 8, "and built on the winner's write");
    assert_eq!(store.list_devices(None).unwrap()[0].last_seq, 8);
}

#[test]
fn a_pushed_value_is_nowhere_in_the_database_in_the_clear() {
    use crate::service::Service;
    const MARKER: &str = "ZZ-Hiwot-Tsegaye-0311-MARKER";
    let store = temp_postgres();
    let a = crate::storage::conformance::enrolled_device(&*store, "agency_a");
    let b = crate::storage::conformance::enrolled_device(&*store, "agency_a");
    let mut op = crate::storage::conformance::new_case_op(&a, 1, RecordId::new());
    op.fields.insert(
        "given_name".into(),
        fieldcase_core::FieldChange::fresh(serde_json::json!(MARKER)),
    );
    let storage: &dyn Storage = &*store;
    assert_eq!(
        storage
            .push(
                &a,
                std::slice::from_ref(&op),
                crate::storage::conformance::NOW
            )
            .unwrap()
            .applied,
        1
    );
    assert_eq!(
        storage.pull(&b, 0, 10).unwrap().ops,
        vec![op],
        "it opens for pulls"
    );

    let mut client = store
        .database()
        .config()
        .connect(::postgres::NoTls)
        .unwrap();
    let columns: Vec<(String, String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text
             FROM information_schema.columns
             WHERE table_schema = 'public' AND data_type IN ('bytea', 'text')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(
        columns.len() > 20,
        "every table's columns were found: {columns:?}"
    );
    let mut holding = Vec::new();
    for (table, column, kind) in &columns {
        let test = if kind == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("strpos(\"{column}\", $1) > 0")
        };
        let found: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM \"{table}\" WHERE {test}"),
                &[&MARKER],
            )
            .unwrap()
            .get(0);
        if found > 0 {
            holding.push(format!("{table}.{column}"));
        }
    }
    assert_eq!(
        holding,
        Vec::<String>::new(),
        "columns holding the value in the clear"
    );
}

/// The logical schema is SQLite's: the same tables with the same columns, and every index
/// SQLite names. A column added to one backend and not the other fails here. (SQLite's
/// `match_blocks` rows are packed in `match_profiles.blocks` in PostgreSQL:
/// `schema::PACK_MATCH_BLOCKS`.)
#[test]
fn the_schema_has_the_tables_columns_and_indexes_of_sqlite() {
    use std::collections::BTreeSet;
    let mut sqlite = rusqlite::Connection::open_in_memory().unwrap();
    crate::storage::sqlite::schema::prepare(&mut sqlite).unwrap();
    let lite_columns: BTreeSet<(String, String)> = sqlite
        .prepare(
            // `duplicate_decisions_v5` holds SQLite's plain decisions from before sealing
            // only until the storage opens and moves them; PostgreSQL never had plain ones.
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
               AND m.name <> 'duplicate_decisions_v5'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lite_indexes: BTreeSet<String> = sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!lite_indexes.is_empty());

    let store = temp_postgres();
    let mut client = store
        .database()
        .config()
        .connect(::postgres::NoTls)
        .unwrap();
    let mut pg_columns: BTreeSet<(String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'schema_version'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let pair = |t: &str, c: &str| (t.to_owned(), c.to_owned());
    // Folded into `records` in PostgreSQL (`schema::FOLD_DERIVED_INTO_RECORDS`): the rows of
    // SQLite's `report_facts`, `match_profiles` and `match_blocks`.
    for column in ["intake_month", "facts", "profile", "blocks"] {
        assert!(
            pg_columns.remove(&pair("records", column)),
            "records.{column}"
        );
    }
    pg_columns.extend([
        pair("report_facts", "record_id"),
        pair("report_facts", "intake_month"),
        pair("report_facts", "facts"),
        pair("match_profiles", "record_id"),
        pair("match_profiles", "profile"),
        pair("match_blocks", "block"),
        pair("match_blocks", "record_id"),
    ]);
    let pg_indexes: BTreeSet<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pg_columns, lite_columns);
    // The intake month is read off the records row, unindexed so that updates stay HOT
    // (`schema::FOLD_DERIVED_INTO_RECORDS`).
    let mut lite_indexes = lite_indexes;
    assert!(lite_indexes.remove("report_facts_by_intake_month"));
    let missing: Vec<_> = lite_indexes.difference(&pg_indexes).collect();
    assert!(
        missing.is_empty(),
        "indexes SQLite has and PostgreSQL lacks: {missing:?}"
    );
}

#[test]
fn the_pool_lends_at_most_its_size_and_reuses_returned_clients() {
    use std::time::{Duration, Instant};
    let database = testing::TempDatabase::create();
    let pool = pool::Pool::new(database.config(), 2);
    let pid = |c: &mut ::postgres::Client| -> i32 {
        c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
    };
    let mut first = pool.get().unwrap();
    let mut second = pool.get().unwrap();
    let (a, b) = (pid(&mut first), pid(&mut second));
    assert_ne!(a, b, "two clients lent at once are two connections");
    let waited = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let start = Instant::now();
            let mut third = pool.get().unwrap();
            (start.elapsed(), pid(&mut third))
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        waiter.join().unwrap()
    });
    assert!(
        waited.0 >= Duration::from_millis(150),
        "the third waited: {waited:?}"
    );
    assert_eq!(
        waited.1, a,
        "and got the returned connection, not a new one"
    );
    drop(second);
}

/// The schema step [`schema::PACK_MATCH_BLOCKS`] packs each case's rows of `match_blocks` into
/// its `match_profiles` row: a database written at the version before finds the same shared
/// blocks, with the same members, after.
#[test]
fn match_blocks_of_a_database_before_packing_survive_it() {
    /// What the steps after packing made, undone, so the rewound database is that version's.
    const UNDO_STEPS_AFTER_PACKING: &str = "
        DROP TABLE case_reviews;
        DROP INDEX audit_log_by_seq; DROP INDEX audit_log_by_user;
        ALTER TABLE audit_log DROP COLUMN seq, DROP COLUMN chain_hash, DROP COLUMN signature;
        ALTER TABLE audit_log DROP CONSTRAINT audit_log_event_check;
        ALTER TABLE audit_log ADD CONSTRAINT audit_log_event_check CHECK (event IN
            ('referral_created', 'referral_transition', 'command_refused', 'shared_delivery',
             'timeline_read'));
        DROP INDEX records_by_case; ALTER TABLE records DROP COLUMN purged_at;
        DROP TABLE device_store_counters;";
    // Step 9 (`schema::FOLD_DERIVED_INTO_RECORDS`) undone: facts and profiles back in
    // tables of their own.
    const UNDO_FOLDING_INTO_RECORDS: &str = "
        CREATE TABLE report_facts (
            record_id    BYTEA PRIMARY KEY REFERENCES records(record_id),
            intake_month TEXT,
            facts        BYTEA NOT NULL);
        CREATE INDEX report_facts_by_intake_month ON report_facts(intake_month);
        INSERT INTO report_facts
            SELECT record_id, intake_month, facts FROM records WHERE facts IS NOT NULL;
        CREATE TABLE match_profiles (
            record_id BYTEA PRIMARY KEY REFERENCES records(record_id),
            profile   BYTEA NOT NULL,
            blocks    BYTEA NOT NULL);
        INSERT INTO match_profiles
            SELECT record_id, profile, COALESCE(blocks, ''::bytea)
            FROM records WHERE profile IS NOT NULL;
        ALTER TABLE records DROP COLUMN intake_month, DROP COLUMN facts,
            DROP COLUMN profile, DROP COLUMN blocks;";
    use crate::service::Service;
    use crate::storage::conformance::{enrolled_device, new_case_op};
    use fieldcase_core::FieldChange;
    let store = temp_postgres();
    let (uga, ken) = (
        enrolled_device(&*store, "iom_uga"),
        enrolled_device(&*store, "iom_ken"),
    );
    let person = [
        ("given_name", "Hodan"),
        ("family_name", "Abdi Warsame"),
        ("date_of_birth", "1991-04-02"),
    ];
    let swapped = [
        ("given_name", "Warsame"),
        ("family_name", "Hodan"),
        ("date_of_birth", "1991"),
    ];
    for (device, seq, fields) in [(&uga, 1, person), (&ken, 1, swapped), (&uga, 2, swapped)] {
        let mut op = new_case_op(device, seq, RecordId::new());
        op.fields = fields
            .iter()
            .map(|(k, v)| {
                let change = FieldChange::fresh(serde_json::json!(v));
                ((*k).to_owned(), change)
            })
            .collect();
        (&*store as &dyn Storage)
            .push(device, &[op], crate::storage::conformance::NOW)
            .unwrap();
    }
    let shared = |store: &dyn Storage| {
        let mut seen = Vec::new();
        store
            .scan_match_blocks(BlockSlice::ALL, &mut |block, member| {
                seen.push((*block, member.record))
            })
            .unwrap();
        seen
    };
    let before = shared(&*store);
    assert!(
        before.len() >= 3,
        "the three cases share blocks: {}",
        before.len()
    );

    // Back to the shape before the step: one row per (block, record), profiles without
    // blocks, at the version the step starts from.
    let before_packing = schema::MIGRATIONS
        .iter()
        .position(|step| *step == schema::PACK_MATCH_BLOCKS)
        .unwrap() as i64;
    let mut client = store
        .database()
        .config()
        .connect(::postgres::NoTls)
        .unwrap();
    client.batch_execute(UNDO_FOLDING_INTO_RECORDS).unwrap();
    client
        .batch_execute(
            "CREATE TABLE match_blocks (
                 block     BYTEA NOT NULL,
                 record_id BYTEA NOT NULL REFERENCES records(record_id),
                 PRIMARY KEY (block, record_id));
             INSERT INTO match_blocks
                 SELECT substring(blocks FROM k * 8 + 1 FOR 8), record_id
                 FROM match_profiles, generate_series(0, length(blocks) / 8 - 1) AS k;
             ALTER TABLE match_profiles DROP COLUMN blocks;",
        )
        .unwrap();
    client.batch_execute(UNDO_STEPS_AFTER_PACKING).unwrap();
    client
        .execute("UPDATE schema_version SET version = $1", &[&before_packing])
        .unwrap();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM match_blocks", &[])
        .unwrap()
        .get(0);
    assert!(rows > before.len() as i64, "unshared blocks are kept too");

    let reopened = another_process(&store);
    assert_eq!(shared(&reopened), before);
    let unpacked: i64 = client
        .query_one(
            "SELECT sum(length(blocks) / 8) FROM records WHERE profile IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unpacked, rows, "every block from before is kept");
    let gone: Option<String> = client
        .query_one("SELECT to_regclass('match_blocks')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(gone, None);
}

#[test]
fn audit_writers_in_two_processes_keep_one_chain() {
    let store = temp_postgres();
    let other = another_process(&store);
    crate::storage::conformance::concurrent_audit_writers_keep_one_chain(&*store, &[&other]);
}

/// Appends `n` audit entries through the service, as pushes and pulls do.
fn audited(store: &dyn Storage, n: u64) {
    let device = crate::storage::conformance::enrolled_device(store, "agency_a");
    for i in 0..n {
        let entry = AuditEntry {
            at_ms: crate::storage::conformance::NOW + i,
            event: AuditEvent::SharedDelivery,
            agency: device.agency.clone(),
            device: Some(device.id),
            user_id: Some(device.user_id.clone()),
            record_id: Some(RecordId::new()),
            first_position: Some(i + 1),
            last_position: Some(i + 1),
            ops: Some(1),
            detail: None,
        };
        crate::storage::write(store, |tx| crate::service::audit::append(tx, &entry)).unwrap();
    }
}

fn breaks(store: &dyn Storage) -> Vec<(u64, crate::service::audit_chain::BreakKind)> {
    crate::service::audit::verify(store, &[])
        .unwrap()
        .breaks
        .iter()
        .map(|b| (b.position, b.kind))
        .collect()
}

#[test]
fn edited_deleted_and_reordered_audit_rows_are_found_at_their_position() {
    use crate::service::audit_chain::BreakKind;
    let store = temp_postgres();
    audited(&*store, 6);
    assert!(breaks(&*store).is_empty());
    let mut db = store
        .database()
        .config()
        .connect(::postgres::NoTls)
        .unwrap();

    db.execute("UPDATE audit_log SET ops = 7 WHERE seq = 2", &[])
        .unwrap();
    assert_eq!(breaks(&*store), vec![(2, BreakKind::Altered)]);
    db.execute("UPDATE audit_log SET ops = 1 WHERE seq = 2", &[])
        .unwrap();
    assert!(breaks(&*store).is_empty(), "undone");

    // Swap two entries' places in the chain.
    db.batch_execute(
        "UPDATE audit_log SET seq = -3 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = -3;",
    )
    .unwrap();
    // Both moved entries, and the one after them (its predecessor's hash changed).
    assert_eq!(
        breaks(&*store),
        vec![
            (3, BreakKind::Altered),
            (4, BreakKind::Altered),
            (5, BreakKind::Altered)
        ]
    );

    db.execute("DELETE FROM audit_log WHERE seq = 5", &[])
        .unwrap();
    assert!(breaks(&*store).contains(&(5, BreakKind::Missing)));
}

#[test]
fn audit_entries_from_before_the_chain_are_chained_by_the_migration() {
    let database = testing::TempDatabase::create();
    let mut db = database.config().connect(::postgres::NoTls).unwrap();
    db.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
        .unwrap();
    db.batch_execute(schema::MIGRATIONS[0]).unwrap();
    db.batch_execute(schema::MIGRATIONS[1]).unwrap();
    db.batch_execute(
        "INSERT INTO schema_version (version) VALUES (2);
         INSERT INTO audit_log (at, event, agency, detail) VALUES
           (1, 'referral_created', 'agency_a', 'sent'),
           (2, 'referral_transition', 'agency_b', 'accept');",
    )
    .unwrap();
    let store = PostgresStorage::open(database.config(), Sealer::from_key(&[3; 32])).unwrap();
    let report = crate::service::audit::verify(&store, &[]).unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.entries, report.last_position), (2, 2));
    audited(&store, 1);
    assert_eq!(
        crate::service::audit::verify(&store, &[])
            .unwrap()
            .last_position,
        3
    );
}
