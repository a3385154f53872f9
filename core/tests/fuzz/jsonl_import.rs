//! The JSON Lines import (`Store::import_jsonl`) into one real store: lines made from a valid
//! case with fuzzer-chosen edits, and arbitrary bytes. Every line is imported, found already
//! present, skipped as blank or reported with its line number; a case that goes in reads back
//! as the case its line described, and a rejected line writes nothing.

use crate::common::{case_json, new_store};
use crate::tape::Tape;
use bolero::check;
use fieldcase_core::ids::RecordId;
use fieldcase_core::import::ImportOptions;
use fieldcase_core::model::Case;
use fieldcase_core::store::Store;
use serde_json::Value;
use std::io::Cursor;
use std::sync::Mutex;

/// Keys and values of the import form, for the mutator to reuse.
const WORDS: &[&str] = &[
    "id",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "nationality",
    "country_of_assistance",
    "intake_date",
    "categories",
    "programme",
    "exploitation_types",
    "labour_sectors",
    "trafficking_type",
    "country_of_destination",
    "phone",
    "document_numbers",
    "type",
    "number",
    "issuing_country",
    "consent",
    "assistance",
    "given",
    "date",
    "recorded_by",
    "data_sharing",
    "research",
    "status",
    "risk_level",
    "answers",
    "narrative",
    "female",
    "male",
    "UGA",
    "KEN",
    "XXX",
    "1995-03",
    "1995-02-30",
    "2026-10-01",
    "2999-01-01",
    "open",
    "closed",
    "high",
    "passport",
    "iom_ken",
    "iom_uga",
    "labour",
    "domestic_work",
    "victim_of_trafficking",
    "international",
    "+256 772 000001",
    "00000000-0000-7000-8000-000000000009",
    "00000000-0000-0000-0000-000000000000",
    "",
];

/// Imports `file`: the line totals add up and the store grows by exactly what was imported.
fn check_import(store: &mut Store, file: &[u8]) {
    // Lines as the import counts them: a last line without its newline still counts.
    let newlines = file.iter().filter(|&&b| b == b'\n').count() as u64;
    let lines = newlines + u64::from(file.last().is_some_and(|&b| b != b'\n'));
    let before = store.count_cases(None).unwrap();
    let report = store
        .import_jsonl(Cursor::new(file), &ImportOptions::default(), &mut |_| {})
        .expect("line problems are reported, not returned");
    let totals = &report.totals;
    assert_eq!(totals.lines_read, lines);
    assert_eq!(totals.bytes_read, file.len() as u64);
    assert_eq!(totals.failed, report.errors.len() as u64);
    assert!(totals.imported + totals.already_present + totals.failed <= totals.lines_read);
    assert_eq!(store.count_cases(None).unwrap(), before + totals.imported);
    for error in &report.errors {
        assert!(error.line >= 1 && error.line <= totals.lines_read);
    }
}

#[test]
fn jsonl_import_mutated_cases() {
    let dir = tempfile::tempdir().unwrap();
    let store = Mutex::new(new_store(dir.path(), "fuzz", 1));
    check!().for_each(|bytes: &[u8]| {
        let mut tape = Tape::new(bytes);
        let mut file = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..tape.below(3) + 1 {
            let id = RecordId::new();
            let mut case = case_json("Amina", "Fuzz", "+256 772 000001", "FZ1");
            case["id"] = Value::String(id.to_string());
            tape.mutate(&mut case, WORDS);
            let kept_id = case["id"] == Value::String(id.to_string());
            let mut without_id = case.clone();
            if let Some(object) = without_id.as_object_mut() {
                object.remove("id");
            }
            if let Ok(parsed) = Case::from_json(&without_id) {
                // The nested form a case prints parses back to the same case.
                let again = Case::from_json(&parsed.to_json()).expect("a case's JSON is valid");
                assert_eq!(again.to_fields(), parsed.to_fields());
                if kept_id {
                    expected.push((id, parsed));
                }
            }
            file.extend(serde_json::to_vec(&case).unwrap());
            file.push(b'\n');
        }
        let mut store = store.lock().unwrap();
        check_import(&mut store, &file);
        for (id, case) in expected {
            let stored = store.get_case(&id).expect("a valid line's case is stored");
            let stored = stored.case().expect("a stored case is valid");
            assert_eq!(stored.to_fields(), case.to_fields());
        }
    });
}

#[test]
fn jsonl_import_arbitrary_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Mutex::new(new_store(dir.path(), "fuzz", 1));
    check!().for_each(|bytes: &[u8]| {
        check_import(&mut store.lock().unwrap(), bytes);
    });
}
