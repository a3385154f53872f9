//! Tampering and damage: a flipped byte, a moved value, a truncated or corrupt file all give
//! typed errors — never wrong data, never a panic.

mod common;
use common::*;
use fieldcase_core::store::{Store, StoreError};
use rusqlite::Connection;

fn sealed_state(path: &std::path::Path, id: &fieldcase_core::RecordId) -> Vec<u8> {
    let conn = Connection::open(path).unwrap();
    conn.query_row(
        "SELECT state FROM records WHERE id = ?1",
        [&id.as_bytes()[..]],
        |r| r.get(0),
    )
    .unwrap()
}

fn write_state(path: &std::path::Path, id: &fieldcase_core::RecordId, state: &[u8]) {
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "UPDATE records SET state = ?1 WHERE id = ?2",
        rusqlite::params![state, &id.as_bytes()[..]],
    )
    .unwrap();
}

#[test]
fn a_flipped_byte_anywhere_in_a_sealed_value_is_an_integrity_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.close().unwrap();
    let original = sealed_state(&path, &id);
    // Version byte, every nonce byte, ciphertext bytes across the value, every tag byte.
    let len = original.len();
    let positions: Vec<usize> = (0..26)
        .chain((26..len - 16).step_by(37))
        .chain(len - 16..len)
        .collect();
    let store = Store::open(&path, PASSPHRASE, None, &options()).unwrap();
    for position in positions {
        let mut damaged = original.clone();
        damaged[position] ^= 0x01;
        write_state(&path, &id, &damaged);
        match store.get_case(&id) {
            Err(StoreError::Integrity {
                table: "records", ..
            }) => {}
            other => panic!("byte {position}: expected an integrity error, got {other:?}"),
        }
    }
    for cut in [0, 1, 10, 25, len / 2, len - 1] {
        write_state(&path, &id, &original[..cut]);
        assert!(
            matches!(store.get_case(&id), Err(StoreError::Integrity { .. })),
            "truncated to {cut}"
        );
    }
    write_state(&path, &id, &original);
    assert_eq!(store.get_case(&id).unwrap().fields["given_name"], "Amina");
}

#[test]
fn a_sealed_value_moved_to_another_row_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    let a = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let b = store
        .create_case(&case("Grace", "Achieng", "+256 772 654321", "C7654321"))
        .unwrap();
    write_state(&path, &b, &sealed_state(&path, &a));
    assert!(matches!(
        store.get_case(&b),
        Err(StoreError::Integrity { .. })
    ));
    assert!(store.get_case(&a).is_ok());
}

#[test]
fn a_truncated_or_corrupt_database_file_gives_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    for i in 0..200 {
        store
            .create_case(&case(
                &format!("Person{i}"),
                "Family",
                &format!("+256 772 {i:06}"),
                &format!("D{i:07}"),
            ))
            .unwrap();
    }
    store.close().unwrap();
    let original = std::fs::read(&path).unwrap();

    let damaged_copies: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("header only".into(), original[..100].to_vec()),
        ("half".into(), original[..original.len() / 2].to_vec()),
        ("one page".into(), original[..4096].to_vec()),
        (
            "garbage".into(),
            (0..original.len())
                .map(|i| (i * 7919 % 251) as u8)
                .collect(),
        ),
        ("scribbled pages".into(), {
            let mut bytes = original.clone();
            for page in (2..bytes.len() / 4096).step_by(2) {
                bytes[page * 4096 + 100..page * 4096 + 400].fill(0xAB);
            }
            bytes
        }),
    ];
    for (what, bytes) in damaged_copies {
        let damaged = dir.path().join("damaged.db");
        std::fs::write(&damaged, &bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            match Store::open(&damaged, PASSPHRASE, None, &options()) {
                Err(e) => Err(e),
                Ok(store) => store
                    .list_cases(None, 1000, 0)
                    .map(drop)
                    .and_then(|_| store.integrity_check()),
            }
        });
        let result = outcome.unwrap_or_else(|_| panic!("{what}: panicked"));
        let error = result.expect_err(&format!("{what}: damage went unnoticed"));
        assert!(
            matches!(
                error,
                StoreError::NotAStore
                    | StoreError::Corrupt
                    | StoreError::Integrity { .. }
                    | StoreError::Database(_)
            ),
            "{what}: {error:?}"
        );
        for suffix in ["", "-wal", "-shm"] {
            let mut file = damaged.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

#[test]
fn a_file_that_is_not_a_store_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert!(matches!(
        Store::open(&path, PASSPHRASE, None, &options()),
        Err(StoreError::NotAStore)
    ));
    assert!(matches!(
        Store::open(&dir.path().join("missing.db"), PASSPHRASE, None, &options()),
        Err(StoreError::NotFound)
    ));
}
