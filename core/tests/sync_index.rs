//! What a sync's end does. The search index: cases a sync brings in are indexed once when it
//! ends, and the index it leaves is exactly the one page-by-page writing leaves — through new
//! cases changed again by a later page, local edits and purges in the middle of the sync, and
//! a sync cut short by the app being closed. The WAL: copied back into the main file by a
//! checkpoint the sync's end leaves running.

mod common;
use common::*;
use fieldcase_core::model::Fields;
use fieldcase_core::protocol::PURGED_FIELD;
use fieldcase_core::store::{SearchQuery, Store};
use fieldcase_core::{Operation, RecordId, RecordKind};
use rusqlite::Connection;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

fn found(store: &Store, text: &str) -> BTreeSet<RecordId> {
    store
        .search(&SearchQuery::Name(text.into()))
        .unwrap()
        .into_iter()
        .map(|hit| hit.summary.id)
        .collect()
}

/// Every row of the store's blind index, read from the file.
fn index_rows(path: &Path) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    let conn = Connection::open(path).unwrap();
    let rows = conn
        .prepare("SELECT token, record_id FROM search_index")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows
}

fn pending_cases(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM search_index_pending", [], |row| {
            row.get(0)
        })
        .unwrap()
}

/// Cases made on another device of the agency, as the operations a sync would pull.
fn cases_from_elsewhere(
    dir: &Path,
    device: u8,
    names: &[(&str, &str)],
) -> (Vec<RecordId>, Vec<Operation>) {
    let mut other = new_store(dir, &format!("other-{device}"), device);
    let ids = names
        .iter()
        .enumerate()
        .map(|(n, (given, family))| {
            let phone = format!("+256 772 00{n:04}");
            let document = format!("K{n:07}");
            other
                .create_case(&case(given, family, &phone, &document))
                .unwrap()
        })
        .collect();
    (ids, other.pending_ops(usize::MAX).unwrap())
}

#[test]
fn a_syncs_new_cases_are_found_once_it_ends_with_the_index_writing_them_at_once_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ops) = cases_from_elsewhere(
        dir.path(),
        7,
        &[
            ("Amina", "Nakato"),
            ("Tigist", "Tesfaye"),
            ("Joy", "Auma"),
            ("Grace", "Achieng"),
        ],
    );
    let [amina, tigist, joy, grace] = ids[..] else {
        unreachable!()
    };
    // Both stores hold Amina before the sync; "plain" is a copy of the same file (same keys,
    // so the same tokens) that applies the pages outside a sync, token by token.
    let synced_path = store_path(dir.path(), "synced");
    let plain_path = store_path(dir.path(), "plain");
    let mut synced = new_store(dir.path(), "synced", 1);
    synced.apply_remote(&ops[..1], "c0").unwrap();
    drop(synced);
    std::fs::copy(&synced_path, &plain_path).unwrap();
    let mut synced = Store::open(&synced_path, PASSPHRASE, None, &options()).unwrap();
    let mut plain = Store::open(&plain_path, PASSPHRASE, None, &options()).unwrap();

    let first_page: Vec<Operation> = [
        ops[1].clone(),
        ops[2].clone(),
        ops[3].clone(),
        server_op(
            1,
            RecordKind::Case,
            amina,
            json!({ "family_name": "Namubiru" }),
        ),
    ]
    .into();
    let second_page = [
        // A case new in this sync, renamed by a later page.
        server_op(
            2,
            RecordKind::Case,
            tigist,
            json!({ "given_name": "Selam" }),
        ),
        server_op(3, RecordKind::Case, joy, json!({ PURGED_FIELD: true })),
    ];
    let local_edit: Fields = [("family_name".to_string(), json!("Odongo"))].into();

    synced.begin_sync_writes().unwrap();
    synced.apply_remote(&first_page, "c1").unwrap();
    // In the middle of the sync: a case the device held keeps its index up to date; the
    // new ones are listed but wait for their tokens.
    assert_eq!(found(&synced, "namubiru"), [amina].into());
    assert!(found(&synced, "nakato").is_empty());
    assert!(found(&synced, "tigist").is_empty());
    assert_eq!(synced.count_cases(None).unwrap(), 4);
    assert_eq!(pending_cases(&synced_path), 3);
    // A caseworker edits a new case while the sync goes on.
    synced.update_case(&grace, local_edit.clone()).unwrap();
    synced.apply_remote(&second_page, "c2").unwrap();
    assert_eq!(
        pending_cases(&synced_path),
        2,
        "the purged case left the list"
    );
    synced.end_sync_writes().unwrap();

    plain.apply_remote(&first_page, "c1").unwrap();
    plain.update_case(&grace, local_edit).unwrap();
    plain.apply_remote(&second_page, "c2").unwrap();

    assert_eq!(pending_cases(&synced_path), 0);
    assert_eq!(found(&synced, "selam tesfaye"), [tigist].into());
    assert!(found(&synced, "tigist").is_empty());
    assert_eq!(found(&synced, "grace odongo"), [grace].into());
    assert!(found(&synced, "achieng").is_empty());
    assert!(found(&synced, "joy auma").is_empty());
    let synced_rows = index_rows(&synced_path);
    assert!(synced_rows.len() > 40, "{} index rows", synced_rows.len());
    assert_eq!(synced_rows, index_rows(&plain_path));
}

#[test]
fn a_sync_cut_short_has_its_cases_indexed_when_the_store_is_next_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ops) = cases_from_elsewhere(dir.path(), 7, &[("Amina", "Nakato"), ("Joy", "Auma")]);
    let path = store_path(dir.path(), "synced");
    let mut store = new_store(dir.path(), "synced", 1);
    store.begin_sync_writes().unwrap();
    store.apply_remote(&ops, "c1").unwrap();
    // The app is closed before the sync ends.
    drop(store);
    assert_eq!(pending_cases(&path), 2);

    let mut store = Store::open(&path, PASSPHRASE, None, &options()).unwrap();
    assert_eq!(pending_cases(&path), 0);
    assert_eq!(found(&store, "amina nakato"), [ids[0]].into());
    assert_eq!(found(&store, "auma"), [ids[1]].into());
    // Locked in the middle of a sync: the cases wait for the next unlock.
    store.begin_sync_writes().unwrap();
    let (more, more_ops) = cases_from_elsewhere(dir.path(), 8, &[("Grace", "Achieng")]);
    store.apply_remote(&more_ops, "c2").unwrap();
    store.lock();
    store.end_sync_writes().unwrap();
    assert_eq!(pending_cases(&path), 1);
    store.unlock(PASSPHRASE, None).unwrap();
    assert_eq!(pending_cases(&path), 0);
    assert_eq!(found(&store, "grace"), [more[0]].into());
}

#[test]
fn pages_applied_outside_a_sync_are_indexed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, ops) = cases_from_elsewhere(dir.path(), 7, &[("Amina", "Nakato")]);
    let path = store_path(dir.path(), "synced");
    let mut store = new_store(dir.path(), "synced", 1);
    store.apply_remote(&ops, "c1").unwrap();
    assert_eq!(pending_cases(&path), 0);
    assert_eq!(found(&store, "amina"), [ids[0]].into());
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn a_syncs_end_copies_what_it_wrote_into_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<(String, String)> = (0..150)
        .map(|n| (format!("Given{n}"), format!("Family{n}")))
        .collect();
    let names: Vec<(&str, &str)> = names
        .iter()
        .map(|(g, f)| (g.as_str(), f.as_str()))
        .collect();
    let (ids, ops) = cases_from_elsewhere(dir.path(), 7, &names);
    let path = store_path(dir.path(), "synced");
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let mut store = new_store(dir.path(), "synced", 1);
    store.begin_sync_writes().unwrap();
    store.apply_remote(&ops, "c1").unwrap();
    let main_before = file_len(&path);
    assert!(
        file_len(Path::new(&wal)) > main_before,
        "the sync's pages wait in the WAL"
    );
    store.end_sync_writes().unwrap();
    // Locking waits for the checkpoint; so would closing.
    store.lock();
    assert!(
        file_len(&path) > main_before + 150 * 1024,
        "main file {} bytes after the sync, {main_before} before",
        file_len(&path)
    );
    store.unlock(PASSPHRASE, None).unwrap();
    assert_eq!(found(&store, "given149 family149"), [ids[149]].into());
}
