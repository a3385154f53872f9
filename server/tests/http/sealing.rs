//! Operation payloads are sealed at rest: a recognizable value never reaches the disk in the
//! clear, in the database or its write-ahead log.

use crate::common::*;
use fieldcase_core::RecordId;
use serde_json::json;
use std::path::Path;

const MARKER: &str = "ZZ-Tesfamariam-Beyene-0117-MARKER";

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            seen += 1;
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    assert!(
        seen >= 3,
        "expected the database, its WAL and the key in {dir:?}"
    );
    found
}

#[tokio::test]
async fn a_pushed_value_is_nowhere_on_disk_in_the_clear() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let case = RecordId::new();
    let pushed = vec![
        case_op(
            &a,
            1,
            case,
            &[("given_name", json!(MARKER)), ("sex", json!("female"))],
        ),
        note_op(
            &a,
            2,
            RecordId::new(),
            case,
            &format!("met {MARKER} at the border"),
        ),
    ];
    h.sync(&a, pushed.clone(), None, None).await;
    assert_eq!(
        h.pull_all(&b).await,
        pushed,
        "sealed payloads open again for pulls"
    );

    let data = h.server.data_dir.clone();
    assert!(
        data.join("fieldcase.db-wal").exists(),
        "the WAL is checked while running"
    );
    assert_eq!(
        files_containing(&data, MARKER.as_bytes()),
        Vec::<String>::new()
    );

    h.server.shutdown().await.unwrap();
    assert_eq!(
        files_containing(&data, MARKER.as_bytes()),
        Vec::<String>::new()
    );
}
