//! Nothing identifying reaches the disk in the clear, nor any error or debug text.

mod common;
use common::*;
use fieldcase_core::store::SearchQuery;

const NAME: &str = "Zaynabmarker";
const FAMILY: &str = "Okwirimarker";
const PHONE: &str = "+256 779 314159";
const DOCUMENT: &str = "QX9182736";

#[test]
fn no_identifying_bytes_appear_in_the_database_wal_or_shm_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case(NAME, FAMILY, PHONE, DOCUMENT))
        .unwrap();
    let mut changes = fieldcase_core::model::Fields::new();
    changes.insert(
        "other_names".into(),
        serde_json::json!([format!("{NAME} Alias")]),
    );
    store.update_case(&id, changes).unwrap();
    assert_eq!(
        store.search(&SearchQuery::Name(NAME.into())).unwrap().len(),
        1
    );

    // While open (WAL and shm present) and after closing (checkpointed).
    let needles: Vec<Vec<u8>> = vec![
        NAME.as_bytes().to_vec(),
        NAME.to_lowercase().into_bytes(),
        FAMILY.as_bytes().to_vec(),
        FAMILY.to_lowercase().into_bytes(),
        b"314159".to_vec(),
        b"779314159".to_vec(),
        DOCUMENT.as_bytes().to_vec(),
        b"passport kept".to_vec(),
    ];
    let check = |when: &str| {
        let bytes = database_bytes(&path);
        assert!(!bytes.is_empty());
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "{when}: found {:?} in the files",
                String::from_utf8_lossy(needle)
            );
        }
    };
    check("open");
    store.close().unwrap();
    check("closed");
}

#[test]
fn debug_and_error_output_carry_no_identifying_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case(NAME, FAMILY, PHONE, DOCUMENT))
        .unwrap();
    let record = store.get_case(&id).unwrap();
    let mut texts = vec![
        format!("{record:?}"),
        format!("{store:?}"),
        format!("{:?}", record.case().unwrap()),
    ];
    let mut bad = record.fields.clone();
    bad.insert("sex".into(), NAME.into());
    bad.insert("nationality".into(), FAMILY.into());
    bad.insert("date_of_birth".into(), PHONE.into());
    let error = store.create_case_fields(bad).unwrap_err();
    texts.push(error.to_string());
    texts.push(format!("{error:?}"));
    for text in texts {
        for secret in [NAME, FAMILY, PHONE, DOCUMENT, "314159"] {
            assert!(!text.contains(secret), "{secret} leaked into: {text}");
        }
    }
}

/// Collects every log line the engine writes, at every level.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_identifying_value_reaches_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(dir.path(), "a", 1);
        let id = store
            .create_case(&case(NAME, FAMILY, PHONE, DOCUMENT))
            .unwrap();
        let mut bad = fieldcase_core::model::Fields::new();
        bad.insert("nationality".into(), FAMILY.into());
        let _ = store.update_case(&id, bad);
        store.search(&SearchQuery::Name(NAME.into())).unwrap();
        let line = format!(
            "{}\n{{\"given_name\": \"{NAME}\", \"nationality\": \"{FAMILY}\"}}\n",
            case_json(NAME, FAMILY, PHONE, DOCUMENT)
        );
        let _ = store.import_jsonl(line.as_bytes(), &Default::default(), &mut |_| {});
        // A sync against a port nobody listens on fails and retries, logging why.
        let store = std::sync::Mutex::new(store);
        let client =
            fieldcase_core::sync::SyncClient::new("http://127.0.0.1:9", "credential-secret".into())
                .unwrap();
        let policy = fieldcase_core::sync::RetryPolicy {
            initial_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(2),
            max_attempts: Some(2),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(fieldcase_core::sync::sync_with_retry(
            &store,
            &client,
            &policy,
            &|_| {},
        ));
        assert!(result.is_err());
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the retry was logged: {logs}");
    for secret in [NAME, FAMILY, PHONE, DOCUMENT, "314159", "credential-secret"] {
        assert!(!logs.contains(secret), "{secret} reached the logs: {logs}");
    }
}
