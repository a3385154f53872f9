//! Bulk import from JSON Lines: per-line report, batches, re-runs, progress.

mod common;
use common::*;
use fieldcase_core::import::{ImportOptions, LineProblem};
use fieldcase_core::store::SearchQuery;
use std::io::Cursor;

fn file(lines: &[String]) -> Cursor<Vec<u8>> {
    Cursor::new(lines.join("\n").into_bytes())
}

const GIVEN: [&str; 5] = ["Amina", "Grace", "Halima", "Esther", "Mariam"];

fn good(i: usize) -> String {
    case_json(
        GIVEN[i % GIVEN.len()],
        "Importfamily",
        &format!("+256 772 {i:06}"),
        &format!("IM{i:06}"),
    )
    .to_string()
}

#[test]
fn valid_lines_go_in_and_bad_lines_are_reported_by_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mut bad_country = case_json("Bad", "Country", "+256 772 999999", "X1");
    bad_country["nationality"] = "Wakanda-Secret".into();
    let lines = vec![
        good(1),
        "{not json".to_string(),
        bad_country.to_string(),
        String::new(),
        "[1, 2]".to_string(),
        good(2),
        r#"{"id": "not-a-uuid", "sex": "female"}"#.to_string(),
        good(3),
        // An id of the server's namespace (a form version's, say): the server would refuse it.
        format!(
            r#"{{"id": "{}", "sex": "female"}}"#,
            fieldcase_core::RecordId::server_authored([7; 16])
        ),
    ];
    let mut calls = 0;
    let options = ImportOptions {
        batch_size: 2,
        ..Default::default()
    };
    let report = store
        .import_jsonl(file(&lines), &options, &mut |_| calls += 1)
        .unwrap();
    assert_eq!(report.totals.imported, 3);
    assert_eq!(report.totals.failed, 5);
    assert_eq!(report.totals.lines_read, 9);
    let lines_with_errors: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines_with_errors, vec![2, 3, 5, 7, 9]);
    assert_eq!(report.errors[4].problem, LineProblem::BadId);
    match &report.errors[1].problem {
        LineProblem::Invalid(errors) => assert!(errors.0.iter().any(|e| e.field == "nationality")),
        other => panic!("{other:?}"),
    }
    let text: String = report.errors.iter().map(|e| e.to_string()).collect();
    assert!(text.contains("line 3") && text.contains("nationality"));
    assert!(!text.contains("Wakanda-Secret"));
    assert!(calls >= 2, "progress reported per batch");
    assert_eq!(store.count_cases(None).unwrap(), 3);
    assert_eq!(store.status().unwrap().pending_ops, 3);
    assert_eq!(
        store
            .search(&SearchQuery::Name("halima importfamily".into()))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn re_running_an_import_adds_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mut with_id = case_json("Kept", "Identifier", "+256 772 123123", "KI1");
    with_id["id"] = "0192f3a0-0000-7000-8000-000000000001".into();
    let lines: Vec<String> = (0..25).map(good).chain([with_id.to_string()]).collect();
    let first = store
        .import_jsonl(file(&lines), &ImportOptions::default(), &mut |_| {})
        .unwrap();
    let second = store
        .import_jsonl(file(&lines), &ImportOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(first.totals.imported, 26);
    assert_eq!(
        (second.totals.imported, second.totals.already_present),
        (0, 26)
    );
    assert_eq!(store.count_cases(None).unwrap(), 26);
    let kept = "0192f3a0-0000-7000-8000-000000000001".parse().unwrap();
    assert_eq!(
        store.get_case(&kept).unwrap().fields["family_name"],
        "Identifier"
    );
}

#[test]
fn validate_only_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let lines: Vec<String> = (0..10).map(good).chain(["{}x".to_string()]).collect();
    let options = ImportOptions {
        validate_only: true,
        ..Default::default()
    };
    let report = store
        .import_jsonl(file(&lines), &options, &mut |_| {})
        .unwrap();
    assert_eq!((report.totals.imported, report.totals.failed), (10, 1));
    assert_eq!(store.count_cases(None).unwrap(), 0);
    assert_eq!(store.status().unwrap().pending_ops, 0);
}

#[test]
fn an_oversized_line_is_reported_and_skipped_without_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let huge = "x".repeat(fieldcase_core::import::MAX_LINE_BYTES + 10);
    let lines = vec![good(1), huge, good(2)];
    let report = store
        .import_jsonl(file(&lines), &ImportOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(report.totals.imported, 2);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 2);
    assert_eq!(report.errors[0].problem, LineProblem::TooLong);
}

/// A file that reads `good` bytes, then fails like a storage card pulled out.
struct FailingAfter {
    good: Cursor<Vec<u8>>,
}

impl std::io::Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.good.read(buf)? {
            0 => Err(std::io::Error::other("the card was removed")),
            n => Ok(n),
        }
    }
}

#[test]
fn imported_cases_are_found_once_the_import_ends_even_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let options = ImportOptions {
        batch_size: 2,
        ..ImportOptions::default()
    };
    let lines: Vec<String> = (0..5).map(good).collect();
    let report = store
        .import_jsonl(file(&lines), &options, &mut |_| {})
        .unwrap();
    assert_eq!(report.totals.imported, 5);
    let found = |store: &fieldcase_core::store::Store, phone: usize| {
        store
            .search(&SearchQuery::Phone(format!("+256 772 {phone:06}")))
            .unwrap()
            .len()
    };
    assert!((0..5).all(|i| found(&store, i) == 1));

    // Two full batches are committed before the file fails: both are searchable.
    let more: Vec<String> = (5..9).map(|i| good(i) + "\n").collect();
    let failing = std::io::BufReader::new(FailingAfter {
        good: Cursor::new(more.concat().into_bytes()),
    });
    assert!(store.import_jsonl(failing, &options, &mut |_| {}).is_err());
    assert_eq!(store.count_cases(None).unwrap(), 9);
    assert!(
        (5..9).all(|i| found(&store, i) == 1),
        "the committed batches are found"
    );
}
