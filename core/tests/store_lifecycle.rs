//! Creating, opening, locking, re-keying and wiping stores, and the typed errors of each.

mod common;
use common::*;
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::store::{Store, StoreError};

#[test]
fn a_store_reopens_with_its_passphrase_and_keeps_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.close().unwrap();

    let store = Store::open(&store_path(dir.path(), "a"), PASSPHRASE, None, &options()).unwrap();
    let record = store.get_case(&id).unwrap();
    assert_eq!(record.fields["given_name"], "Amina");
    assert_eq!(
        record.case().unwrap(),
        case("Amina", "Nakato", "+256 772 123456", "B1234567")
    );
}

#[test]
fn a_wrong_passphrase_is_a_typed_error_and_changes_nothing_but_the_failure_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.close().unwrap();
    let before = rows_but_the_guard(&path);
    let error = Store::open(&path, "not the passphrase", None, &options()).unwrap_err();
    assert!(matches!(error, StoreError::WrongPassphrase), "{error:?}");
    assert_eq!(rows_but_the_guard(&path), before);
}

/// Every row of every table, except the unlock guard (which counts the failure).
fn rows_but_the_guard(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let filter = if table == "meta" {
            " WHERE key <> 'unlock_guard'"
        } else {
            ""
        };
        let mut statement = conn
            .prepare(&format!("SELECT * FROM \"{table}\"{filter}"))
            .unwrap();
        let columns = statement.column_count();
        let mut query = statement.query([]).unwrap();
        while let Some(row) = query.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(", ")));
        }
    }
    rows
}

#[test]
fn a_store_created_with_an_extra_secret_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let secret = [7u8; 32];
    Store::create(
        &path,
        PASSPHRASE,
        Some(&secret),
        identity(1, "iom_uga"),
        &options(),
    )
    .unwrap()
    .close()
    .unwrap();
    assert!(matches!(
        Store::open(&path, PASSPHRASE, None, &options()),
        Err(StoreError::MissingExtraSecret)
    ));
    assert!(matches!(
        Store::open(&path, PASSPHRASE, Some(&[8u8; 32]), &options()),
        Err(StoreError::WrongPassphrase)
    ));
    assert!(Store::open(&path, PASSPHRASE, Some(&secret), &options()).is_ok());
}

#[test]
fn a_locked_store_refuses_reads_and_writes_until_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.lock();
    assert!(store.is_locked());
    assert!(matches!(store.get_case(&id), Err(StoreError::Locked)));
    assert!(matches!(
        store.create_case(&case("X", "Y", "+256 772 000001", "C1")),
        Err(StoreError::Locked)
    ));
    assert!(matches!(
        store.unlock("wrong", None),
        Err(StoreError::WrongPassphrase)
    ));
    assert!(store.is_locked());
    store.unlock(PASSPHRASE, None).unwrap();
    assert_eq!(store.get_case(&id).unwrap().id, id);
}

#[test]
fn changing_the_passphrase_rewraps_the_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store
        .change_passphrase(
            PASSPHRASE,
            None,
            "a new long passphrase",
            None,
            KdfParams::insecure_fast_for_tests(),
        )
        .unwrap();
    store.close().unwrap();
    assert!(matches!(
        Store::open(&path, PASSPHRASE, None, &options()),
        Err(StoreError::WrongPassphrase)
    ));
    let store = Store::open(&path, "a new long passphrase", None, &options()).unwrap();
    assert_eq!(store.get_case(&id).unwrap().fields["family_name"], "Nakato");
}

#[test]
fn changing_the_passphrase_needs_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let error = store
        .change_passphrase(
            "wrong",
            None,
            "new",
            None,
            KdfParams::insecure_fast_for_tests(),
        )
        .unwrap_err();
    assert!(matches!(error, StoreError::WrongPassphrase));
}

#[test]
fn a_wiped_store_leaves_no_file_and_cannot_be_used_or_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    store.wipe().unwrap();
    assert!(matches!(
        store.list_cases(None, 10, 0),
        Err(StoreError::Wiped)
    ));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files left after wipe: {left:?}");
    assert!(matches!(
        Store::open(&path, PASSPHRASE, None, &options()),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn creating_over_an_existing_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    new_store(dir.path(), "a", 1).close().unwrap();
    let again = Store::create(
        &store_path(dir.path(), "a"),
        PASSPHRASE,
        None,
        identity(1, "iom_uga"),
        &options(),
    );
    assert!(matches!(again, Err(StoreError::AlreadyExists)));
}

#[test]
fn kdf_parameters_out_of_bounds_are_refused_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.kdf = KdfParams {
        memory_kib: 4 * 1024 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    let result = Store::create(
        &store_path(dir.path(), "a"),
        PASSPHRASE,
        None,
        identity(1, "iom_uga"),
        &opts,
    );
    assert!(matches!(result, Err(StoreError::Crypto(_))), "{result:?}");
    assert!(!store_path(dir.path(), "a").exists());
}

#[test]
fn the_default_kdf_parameters_create_and_open_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let opts = fieldcase_core::store::OpenOptions {
        kdf: KdfParams::DEFAULT,
        ..options()
    };
    Store::create(&path, PASSPHRASE, None, identity(1, "iom_uga"), &opts)
        .unwrap()
        .close()
        .unwrap();
    assert!(Store::open(&path, PASSPHRASE, None, &opts).is_ok());
}

#[test]
fn invalid_cases_are_refused_with_the_field_named_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mut fields = case("Amina", "Nakato", "+256 772 123456", "B1234567").to_fields();
    fields.insert("nationality".into(), "Uganda-Secret".into());
    let error = store.create_case_fields(fields).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, StoreError::Invalid(_)));
    let StoreError::Invalid(errors) = error else {
        unreachable!()
    };
    assert!(errors.0.iter().any(|e| e.field == "nationality"), "{text}");
    assert!(!text.contains("Uganda-Secret"));
    assert_eq!(store.count_cases(None).unwrap(), 0);
    assert_eq!(store.status().unwrap().pending_ops, 0);
}

#[test]
fn services_and_notes_are_append_only_children_of_a_case() {
    use fieldcase_core::model::{Note, Service};
    use fieldcase_core::RecordKind;
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let case_id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let service = Service::from_fields(
        &serde_json::from_value(serde_json::json!({
            "case_id": case_id.to_string(), "service_type": "shelter", "date": "2026-10-02", "provider_agency": "iom_uga"
        }))
        .unwrap(),
    )
    .unwrap();
    store.add_service(&service).unwrap();
    let note = Note::from_fields(
        &serde_json::from_value(serde_json::json!({
            "case_id": case_id.to_string(), "text": "Follow-up visit done.", "written_on": "2026-10-03", "author": "user-1"
        }))
        .unwrap(),
    )
    .unwrap();
    let note_id = store.add_note(&note).unwrap();
    assert_eq!(
        store
            .children_of(&case_id, RecordKind::Service)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.children_of(&case_id, RecordKind::Note).unwrap()[0].id,
        note_id
    );
    // A service for a case that does not exist is refused.
    let mut orphan = service.to_fields();
    orphan.insert(
        "case_id".into(),
        fieldcase_core::RecordId::new().to_string().into(),
    );
    let orphan = Service::from_fields(&orphan).unwrap();
    assert!(matches!(
        store.add_service(&orphan),
        Err(StoreError::NoSuchRecord { .. })
    ));
    assert_eq!(store.status().unwrap().pending_ops, 3);
}

#[test]
fn every_call_on_a_wiped_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    store.wipe().unwrap();
    assert!(matches!(store.count_cases(None), Err(StoreError::Wiped)));
    assert!(matches!(store.status(), Err(StoreError::Wiped)));
    assert!(matches!(store.cursor(), Err(StoreError::Wiped)));
    assert!(matches!(store.reset_cursor(), Err(StoreError::Wiped)));
    assert!(matches!(store.integrity_check(), Err(StoreError::Wiped)));
    assert!(matches!(
        store.record_sync_outcome(0, None),
        Err(StoreError::Wiped)
    ));
    assert!(matches!(store.pending_ops(10), Err(StoreError::Wiped)));
    assert!(store.wipe().is_ok(), "wiping twice is harmless");
}
