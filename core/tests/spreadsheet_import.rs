//! Spreadsheet import against real store files, with the messy files agencies really have:
//! a French-locale Excel CSV (semicolons, BOM, CRLF, decimal commas, a title row, a two-row
//! header, blank rows, trailing spaces, mixed date formats), an older database's export read
//! through a mapping file (TOML and JSON), a Latin-1 file, and an XLSX workbook with date cells
//! and a merged header, generated here. Also: review mode, dry runs and re-runs (a SIGKILL in
//! the middle of an import: `spreadsheet_crash.rs`).

mod common;
use common::*;
use fieldcase_core::spreadsheet::{Encoding, Mapping, ReadError, SheetReader};
use fieldcase_core::store::{
    SearchQuery, SpreadsheetError, SpreadsheetImportOptions, SpreadsheetProgress,
    SpreadsheetReport, Store,
};
use serde_json::json;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spreadsheets")
        .join(name)
}

fn options(review: bool, dry_run: bool) -> SpreadsheetImportOptions {
    SpreadsheetImportOptions {
        batch_size: 2,
        dry_run,
        review,
        source_name: "caseload.csv".into(),
    }
}

fn import(
    store: &mut Store,
    path: &Path,
    mapping: &Mapping,
    options: &SpreadsheetImportOptions,
) -> SpreadsheetReport {
    let sheet = SheetReader::open(path, Encoding::Utf8).unwrap();
    let mut calls = Vec::new();
    let report = store
        .import_spreadsheet(sheet, mapping, options, &mut |p| calls.push(p.clone()))
        .unwrap();
    assert_eq!(
        calls.last(),
        Some(&report.totals),
        "the last progress is the total"
    );
    report
}

fn shown(report: &SpreadsheetReport) -> Vec<String> {
    report.problems.iter().map(ToString::to_string).collect()
}

fn find(store: &Store, name: &str) -> fieldcase_core::store::CaseRecord {
    let found = store.search(&SearchQuery::Name(name.into())).unwrap();
    assert_eq!(found.len(), 1, "{name}");
    store.get_case(&found[0].summary.id).unwrap()
}

#[test]
fn a_french_excel_csv_imports_strictly_with_every_problem_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "fr", 1);
    let report = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(false, false),
    );
    assert_eq!(report.header_row, 4, "below a title and a group row");
    assert_eq!(
        report.totals,
        SpreadsheetProgress {
            rows_read: 6,
            imported: 4,
            flagged: 0,
            already_present: 0,
            refused: 2,
        }
    );
    let columns: Vec<(&str, Option<&str>)> = report
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.target.as_deref()))
        .collect();
    assert_eq!(
        columns,
        [
            ("A", Some("given_name")),
            ("B", Some("family_name")),
            ("C", Some("date_of_birth")),
            ("D", Some("sex")),
            ("E", Some("nationality")),
            ("F", Some("intake_date")),
            ("G", Some("age_estimate")),
            ("H", Some("categories")),
            ("I", Some("consent.assistance.given")),
            ("J", Some("consent.guardian")),
            ("K", None),
        ]
    );
    assert_eq!(report.columns[0].header, "Identité Prénom");
    assert!(report.columns[10].how.starts_with("not recognised"));
    let problems = shown(&report);
    assert_eq!(
        problems,
        [
            "row 8, column J (consent.guardian): required when consent to assistance is given for a person under 18 at intake",
            "row 9, column C (date_of_birth): impossible date (no such month or day; is the day/month order right?)",
        ]
    );
    assert!(report.problems[0].reviewable && !report.problems[1].reviewable);
    for text in &problems {
        for personal in ["Grace", "Achieng", "Paul", "2001-13-01", "16"] {
            assert!(!text.contains(personal), "{text}");
        }
    }

    let amina = find(&store, "amina okello");
    let f = &amina.fields;
    assert_eq!(f["given_name"], "Amina", "trailing spaces trimmed");
    assert_eq!(f["family_name"], "Okello");
    assert_eq!(f["date_of_birth"], "2001-03-04");
    assert_eq!(f["sex"], "female");
    assert_eq!(f["nationality"], "UGA");
    assert_eq!(f["categories"], json!(["victim_of_trafficking"]));
    assert_eq!(
        f["consent.assistance"],
        json!({"given": true, "date": "2024-06-01", "recorded_by": "user-1"})
    );
    let jean = find(&store, "jean mukasa");
    assert_eq!(
        jean.fields["date_of_birth"], "2001-03-04",
        "4.3.2001, day first"
    );
    assert_eq!(jean.fields["intake_date"], "2024-06-01", "01/06/2024");
    assert_eq!(jean.fields["nationality"], "COD", "RDC");
    let sara = find(&store, "sara nakato");
    assert_eq!(sara.fields["consent.guardian"], "Marie Nakato");
    let anonymous = store
        .list_cases(None, 10, 0)
        .unwrap()
        .into_iter()
        .find(|c| !c.fields.contains_key("given_name"))
        .expect("the anonymous row");
    assert_eq!(anonymous.fields["nationality"], "ERI");
    assert_eq!(anonymous.fields["intake_date"], "2024-06-05");
    assert!(!anonymous
        .fields
        .values()
        .any(|v| v.to_string().contains("vue au centre")));
    assert_eq!(store.count_cases(None).unwrap(), 4);
    assert_eq!(
        store.status().unwrap().pending_ops,
        4,
        "each case is one operation"
    );
    assert!(
        store.list_review().unwrap().is_empty(),
        "strict mode flags nothing"
    );
}

#[test]
fn review_mode_imports_rule_breaking_rows_flagged_until_an_edit_fixes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "review", 1);
    let report = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(true, false),
    );
    assert_eq!(
        (
            report.totals.imported,
            report.totals.flagged,
            report.totals.refused
        ),
        (5, 1, 1)
    );
    let flags = store.list_review().unwrap();
    assert_eq!(flags.len(), 1);
    let flag = &flags[0];
    assert_eq!((flag.source.as_str(), flag.row), ("caseload.csv", 8));
    let reasons: Vec<(&str, &str)> = flag
        .reasons
        .iter()
        .map(|r| (r.field.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [(
            "consent.guardian",
            "required when consent to assistance is given for a person under 18 at intake"
        )]
    );
    let grace = store.get_case(&flag.case_id).unwrap();
    assert_eq!(
        grace.fields["age_estimate"], 16,
        "16,0 with a decimal comma"
    );
    assert_eq!(
        grace.fields["age_estimated_on"], "2024-06-02",
        "dated by the intake"
    );
    assert_eq!(
        grace.fields["categories"],
        json!(["unaccompanied_migrant_child"])
    );
    assert!(store.needs_review(&flag.case_id).unwrap());

    // An unrelated edit keeps the flag; fixing the rule clears it.
    let mut edit = fieldcase_core::model::Fields::new();
    edit.insert("risk_level".into(), json!("high"));
    store.update_case(&flag.case_id, edit).unwrap();
    assert_eq!(store.list_review().unwrap().len(), 1);
    let mut fix = fieldcase_core::model::Fields::new();
    fix.insert("consent.guardian".into(), json!("Aunt"));
    store.update_case(&flag.case_id, fix).unwrap();
    assert!(store.list_review().unwrap().is_empty());
    assert_eq!(store.count_review().unwrap(), 0);
    assert!(!store.needs_review(&flag.case_id).unwrap());
}

#[test]
fn review_flags_are_sealed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "sealed", 1);
    let mut opts = options(true, false);
    opts.source_name = "kampala-caseload-secret-name.csv".into();
    import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &opts,
    );
    assert_eq!(store.list_review().unwrap()[0].source, opts.source_name);
    store.close().unwrap();
    let bytes = database_bytes(&store_path(dir.path(), "sealed"));
    assert!(!contains(&bytes, b"kampala-caseload-secret-name"));
    assert!(!contains(&bytes, b"Achieng"));
}

#[test]
fn a_dry_run_reports_the_same_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "dry", 1);
    let dry = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(true, true),
    );
    assert_eq!(store.count_cases(None).unwrap(), 0);
    assert_eq!(store.status().unwrap().pending_ops, 0);
    assert_eq!(store.count_review().unwrap(), 0);
    let real = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(true, false),
    );
    assert_eq!(dry, real, "a dry run says exactly what the import does");
}

#[test]
fn a_rerun_adds_nothing_twice_and_a_partial_file_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "rerun", 1);
    // The first seven lines: as if the import had been killed after Jean.
    let full = std::fs::read(fixture("caseload_fr_excel.csv")).unwrap();
    let cut = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(6)
        .map(|(i, _)| i + 1)
        .unwrap();
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, &full[..cut]).unwrap();
    let first = import(
        &mut store,
        &partial,
        &Mapping::builtin(),
        &options(false, false),
    );
    assert_eq!(first.totals.imported, 2);
    let second = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(false, false),
    );
    assert_eq!(
        (second.totals.already_present, second.totals.imported),
        (2, 2)
    );
    let third = import(
        &mut store,
        &fixture("caseload_fr_excel.csv"),
        &Mapping::builtin(),
        &options(true, false),
    );
    assert_eq!(
        (
            third.totals.already_present,
            third.totals.imported,
            third.totals.flagged
        ),
        (4, 1, 1),
        "review mode adds only the row strict mode refused"
    );
    assert_eq!(store.count_cases(None).unwrap(), 5);
}

#[test]
fn a_mapping_file_in_toml_or_json_reads_an_older_databases_export() {
    for mapping_file in ["legacy_mapping.toml", "legacy_mapping.json"] {
        let mapping = Mapping::from_path(&fixture(mapping_file)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(dir.path(), "legacy", 1);
        let strict = import(
            &mut store,
            &fixture("legacy_db_export.csv"),
            &mapping,
            &options(false, true),
        );
        assert_eq!(
            (strict.totals.imported, strict.totals.refused),
            (1, 3),
            "{mapping_file}"
        );
        let report = import(
            &mut store,
            &fixture("legacy_db_export.csv"),
            &mapping,
            &options(true, false),
        );
        let t = &report.totals;
        assert_eq!(
            (t.imported, t.flagged, t.refused),
            (3, 2, 1),
            "{mapping_file}"
        );
        assert_eq!(
            shown(&report)
                .iter()
                .filter(|p| p.starts_with("row 4"))
                .collect::<Vec<_>>(),
            ["row 4, column D (sex): no code matches; allowed codes: female, male, other, unknown"]
        );
        let fatima = find(&store, "fatima bello");
        let f = &fatima.fields;
        assert_eq!(f["sex"], "female", "SexCd 2");
        assert_eq!(f["nationality"], "NGA", "NG");
        assert_eq!(f["date_of_birth"], "1998");
        assert_eq!(f["intake_date"], "2024-03-15", "month first");
        assert_eq!(f["country_of_assistance"], "UGA", "a default");
        assert_eq!(f["categories"], json!(["victim_of_trafficking"]));
        assert_eq!(f["consent.assistance"]["recorded_by"], "cw_7");
        let ali = find(&store, "ali musa");
        assert_eq!(ali.fields["date_of_birth"], "2009-12-31");
        assert!(
            !ali.fields.contains_key("categories"),
            "Trafficked? N adds nothing"
        );
        let musa = find(&store, "musa bello");
        assert_eq!(musa.fields["nationality"], "NER", "Niger by name");
        let flagged: Vec<String> = store
            .list_review()
            .unwrap()
            .iter()
            .flat_map(|f| f.reasons.iter().map(|r| format!("{} {}", f.row, r.field)))
            .collect();
        assert_eq!(flagged, ["3 consent.guardian", "5 consent.assistance"]);
    }
}

#[test]
fn a_latin1_file_is_refused_clearly_unless_asked_for_then_transcoded() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "latin1", 1);
    let path = fixture("latin1_old_excel.csv");
    let sheet = SheetReader::open(&path, Encoding::Utf8).unwrap();
    let error = store
        .import_spreadsheet(
            sheet,
            &Mapping::builtin(),
            &options(false, false),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(error, SpreadsheetError::Read(ReadError::NotUtf8 { row: 1 })),
        "{error}"
    );
    assert!(error.to_string().contains("--encoding latin1"));
    assert_eq!(store.count_cases(None).unwrap(), 0, "nothing written");
    let sheet = SheetReader::open(&path, Encoding::Latin1).unwrap();
    let report = store
        .import_spreadsheet(
            sheet,
            &Mapping::builtin(),
            &options(false, false),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.totals.imported, 2, "{:?}", report.problems);
    let jose = find(&store, "jose naive");
    assert_eq!(jose.fields["given_name"], "José");
    assert_eq!(jose.fields["family_name"], "Naïve");
    assert_eq!(jose.fields["nationality"], "CIV");
}

/// A workbook as an office's Excel saves one: a merged group label over two headers, a date
/// column with real date cells (Excel serial dates), another with text dates, a number column
/// and a TRUE/FALSE column.
fn write_workbook(path: &Path) {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let group = Format::new().set_bold();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    sheet.merge_range(0, 0, 0, 1, "Identity", &group).unwrap();
    let headers = [
        "Given name",
        "Family name",
        "DOB",
        "Gender",
        "Nationality",
        "Intake date",
        "Age",
        "VoT",
        "Consent",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(1, c as u16, *h).unwrap();
    }
    // Text cells, then the date of birth (an Excel serial date, 36954 is 2001-03-04), the
    // intake (45444 is 2024-06-01), the age and the VoT flag.
    struct Row {
        text: [&'static str; 5],
        dob: Option<f64>,
        intake: f64,
        age: Option<f64>,
        vot: bool,
    }
    let rows = [
        Row {
            text: ["Mohamed", "Al Hassan", "M", "Sudan", "yes"],
            dob: Some(36954.0),
            intake: 45444.0,
            age: None,
            vot: true,
        },
        Row {
            text: ["Aisha", "Yusuf", "Female", "so", "yes"],
            dob: None,
            intake: 45445.0,
            age: Some(15.0),
            vot: false,
        },
        Row {
            text: ["Zeynep", "Kaya", "F", "Türkiye", "maybe"],
            dob: Some(36955.0),
            intake: 45446.0,
            age: None,
            vot: false,
        },
    ];
    for (i, row) in rows.iter().enumerate() {
        let [given, family, sex, nationality, consent] = row.text;
        let (dob, intake, age, vot) = (&row.dob, &row.intake, &row.age, &row.vot);
        let r = i as u32 + 3; // a blank row between the header and the data
        sheet.write_string(r, 0, given).unwrap();
        sheet.write_string(r, 1, family).unwrap();
        if let Some(dob) = dob {
            sheet.write_number_with_format(r, 2, *dob, &date).unwrap();
        }
        sheet.write_string(r, 3, sex).unwrap();
        sheet.write_string(r, 4, nationality).unwrap();
        sheet
            .write_number_with_format(r, 5, *intake, &date)
            .unwrap();
        if let Some(age) = age {
            sheet.write_number(r, 6, *age).unwrap();
        }
        sheet.write_boolean(r, 7, *vot).unwrap();
        sheet.write_string(r, 8, consent).unwrap();
    }
    book.save(path).unwrap();
}

#[test]
fn an_xlsx_workbook_with_date_cells_and_a_merged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("caseload.xlsx");
    write_workbook(&path);
    let mut store = new_store(dir.path(), "xlsx", 1);
    let report = import(
        &mut store,
        &path,
        &Mapping::builtin(),
        &options(true, false),
    );
    assert_eq!(report.header_row, 2);
    assert_eq!(report.columns[0].header, "Identity Given name");
    assert_eq!(
        (
            report.totals.rows_read,
            report.totals.imported,
            report.totals.flagged,
            report.totals.refused
        ),
        (3, 2, 1, 1)
    );
    assert_eq!(
        shown(&report),
        [
            "row 5, consent.guardian: required when consent to assistance is given for a person under 18 at intake",
            "row 6, column I (consent.assistance.given): not yes or no (yes/no, y/n, true/false, 1/0, oui/non)",
        ]
    );
    let mohamed = find(&store, "mohamed al hassan");
    let f = &mohamed.fields;
    assert_eq!(f["date_of_birth"], "2001-03-04", "an Excel serial date");
    assert_eq!(f["intake_date"], "2024-06-01");
    assert_eq!(f["nationality"], "SDN");
    assert_eq!(f["sex"], "male");
    assert_eq!(
        f["categories"],
        json!(["victim_of_trafficking"]),
        "a TRUE cell"
    );
    let aisha = find(&store, "aisha yusuf");
    assert_eq!(aisha.fields["nationality"], "SOM", "alpha-2 in lower case");
    assert_eq!(aisha.fields["age_estimate"], 15);
    assert!(
        !aisha.fields.contains_key("categories"),
        "FALSE adds nothing"
    );
}

#[test]
fn a_file_with_no_known_header_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "noheader", 1);
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "colour,size\nred,2\n").unwrap();
    let sheet = SheetReader::open(&csv, Encoding::Utf8).unwrap();
    let error = store
        .import_spreadsheet(
            sheet,
            &Mapping::builtin(),
            &options(false, false),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(error.to_string().contains("mapping file"), "{error}");
    let old = dir.path().join("old.xls");
    std::fs::write(&old, b"\xd0\xcf\x11\xe0").unwrap();
    assert!(matches!(
        SheetReader::open(&old, Encoding::Utf8),
        Err(ReadError::OldXls)
    ));
}

#[test]
fn a_row_reports_its_unreadable_cells_and_broken_rules_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "together", 1);
    let csv = dir.path().join("both.csv");
    std::fs::write(
        &csv,
        "Prénom,Sexe,Date de naissance,Date d'enregistrement,Consentement,Statut\n\
         Lea,Z,2012-01-01,2024-01-10,oui,fermé\n\
         Noor,F,2012-01-01,2024-01-10,peut-être,ouvert\n",
    )
    .unwrap();
    let report = import(&mut store, &csv, &Mapping::builtin(), &options(true, false));
    assert_eq!(
        shown(&report),
        [
            "row 2, column B (sex): no code matches; allowed codes: female, male, other, unknown",
            "row 2, consent.guardian: required when consent to assistance is given for a person under 18 at intake",
            "row 2, closure_reason: required when status is closed",
            "row 3, column E (consent.assistance.given): not yes or no (yes/no, y/n, true/false, 1/0, oui/non)",
        ],
        "the unread consent raises no rule of its own"
    );
    assert_eq!(
        report.totals.refused, 2,
        "an unreadable value is refused even in review mode"
    );
}
