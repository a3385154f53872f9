//! SIGKILL in the middle of a spreadsheet import: every committed batch survives, nothing is
//! half written, and running the same file again finishes the import without doubles.
//!
//! The test re-runs this test binary as a child that imports a large CSV and prints the
//! totals after every committed batch; the parent kills it once it has made progress.

mod common;
use common::*;
use fieldcase_core::spreadsheet::{Encoding, Mapping, SheetReader};
use fieldcase_core::store::{SpreadsheetImportOptions, Store};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "FIELDCASE_SPREADSHEET_CRASH_CHILD";
const KILL_ROWS: usize = 6000;

/// A large clean CSV: every row a valid, distinct case.
fn write_large_csv(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "Given name;Family name;DOB;Sex;Nationality;Intake date;Consent;Phone"
    )
    .unwrap();
    for i in 0..rows {
        let sex = if i % 2 == 0 { "F" } else { "M" };
        writeln!(
            out,
            "P{i};Family{};{:02}/{:02}/{};{sex};Ouganda;01/06/2024;oui;+256 772 {i:06}",
            i % 97,
            1 + i % 28,
            1 + i % 12,
            1950 + i % 50
        )
        .unwrap();
    }
}

/// The child's workload: import the large file, printing the totals after every batch.
#[test]
fn spreadsheet_crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (store_path, csv) = spec.split_once('|').unwrap();
    let mut store =
        Store::open(Path::new(store_path), PASSPHRASE, None, &common::options()).unwrap();
    let sheet = SheetReader::open(Path::new(csv), Encoding::Utf8).unwrap();
    let opts = SpreadsheetImportOptions {
        batch_size: 100,
        ..Default::default()
    };
    let stdout = std::io::stdout();
    store
        .import_spreadsheet(sheet, &Mapping::builtin(), &opts, &mut |p| {
            writeln!(stdout.lock(), "committed {}", p.imported).unwrap();
        })
        .unwrap();
}

#[test]
fn killed_during_a_spreadsheet_import_resumes_without_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("large.csv");
    write_large_csv(&csv, KILL_ROWS);
    let path = store_path(dir.path(), "killed");
    new_store(dir.path(), "killed", 1).close().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spreadsheet_crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{}", path.display(), csv.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut last = 0u64;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ").and_then(|n| n.parse().ok()) {
                if last == 0 {
                    let _ = tx.send(());
                }
                last = n;
            }
        }
        last
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("a first batch committed");
    std::thread::sleep(Duration::from_millis(150));
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let acknowledged = reader.join().unwrap();

    let mut store = Store::open(&path, PASSPHRASE, None, &common::options()).unwrap();
    store.integrity_check().unwrap();
    let kept = store.count_cases(None).unwrap();
    assert!(
        kept >= acknowledged,
        "every committed batch survived: {kept} < {acknowledged}"
    );
    assert_eq!(kept % 100, 0, "whole batches only, never half a batch");
    let sheet = SheetReader::open(&csv, Encoding::Utf8).unwrap();
    let report = store
        .import_spreadsheet(
            sheet,
            &Mapping::builtin(),
            &SpreadsheetImportOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.totals.already_present, kept);
    assert_eq!(report.totals.imported + kept, KILL_ROWS as u64);
    assert_eq!(
        store.count_cases(None).unwrap(),
        KILL_ROWS as u64,
        "no doubles, none missing"
    );
    assert_eq!(store.status().unwrap().pending_ops, KILL_ROWS as u64);
}
