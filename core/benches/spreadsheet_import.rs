//! Spreadsheet import rate: a generated 100,000-row CSV (semicolons, French-locale dates and
//! labels, as an office's Excel writes) imported into an encrypted store, release build.
//!
//! Rows come from `SampleCases` (realistic names, dates, codes, consent) written as a legacy
//! caseload would hold them: `DD/MM/YYYY` dates, `Femme`/`Homme` labels, countries by French
//! name, categories spelled out, yes/no columns. Prints one JSON object: rows, seconds,
//! rows/s by the wall clock, the CPU seconds of the import and rows per CPU second (on a shared
//! machine the wall clock also counts other processes), the file's size, and the peak resident
//! memory (VmHWM) of this process — run it
//! under `/usr/bin/time -v` for the same figure from outside. Set `SPREADSHEET_ROWS` for a
//! smaller run.
//!
//! Run: `cargo bench -p fieldcase-core --bench spreadsheet_import`.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::spreadsheet::{Encoding, Mapping, SheetReader};
use fieldcase_core::store::{Durability, Identity, OpenOptions, SpreadsheetImportOptions, Store};
use fieldcase_core::{AgencyCode, DeviceId};
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

fn rows_wanted() -> usize {
    std::env::var("SPREADSHEET_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// CPU seconds (user, system) this process has used, from `/proc/self/stat` (clock ticks of
/// 1/100 s): on a shared machine, wall-clock time also counts other processes' turns.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after the name and state.
    (ticks(11), ticks(12))
}

/// `2001-03-04` as `04/03/2001`, `2001-03` as `03/2001`, `2001` as is.
fn french_date(date: &str) -> String {
    let parts: Vec<&str> = date.split('-').collect();
    parts.iter().rev().copied().collect::<Vec<_>>().join("/")
}

fn french_sex(code: &str) -> &'static str {
    match code {
        "female" => "Femme",
        "male" => "Homme",
        "other" => "Autre",
        _ => "Inconnu",
    }
}

/// A few countries by French name; the rest as ISO codes, as mixed files have them.
fn country(code: &str) -> String {
    match code {
        "UGA" => "Ouganda".into(),
        "ETH" => "Éthiopie".into(),
        "ERI" => "Érythrée".into(),
        "SSD" => "Soudan du Sud".into(),
        "KEN" => "Kenya".into(),
        other => other.into(),
    }
}

fn text(case: &Value, key: &str) -> String {
    case[key].as_str().unwrap_or("").to_owned()
}

fn generate(path: &Path, rows: usize) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"\xEF\xBB\xBF").unwrap();
    writeln!(
        out,
        "Prénom;Nom;Date de naissance;Sexe;Nationalité;Pays d'assistance;Date d'enregistrement;Catégorie;Programme;Téléphone;Passeport;Consentement;Tuteur;Statut"
    )
    .unwrap();
    for case in SampleCases::new(11).take(rows) {
        let categories: Vec<String> = case["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().replace('_', " "))
            .collect();
        let mut status = text(&case, "status");
        if status == "closed" {
            status = "open".into();
        }
        // The trafficking details are left out, so every row reads without them.
        let categories: Vec<String> = categories
            .into_iter()
            .filter(|c| c != "victim of trafficking")
            .collect();
        writeln!(
            out,
            "{};{};{};{};{};{};{};{};{};{};{};Oui;{};{}",
            text(&case, "given_name"),
            text(&case, "family_name"),
            french_date(&text(&case, "date_of_birth")),
            french_sex(&text(&case, "sex")),
            country(&text(&case, "nationality")),
            country(&text(&case, "country_of_assistance")),
            french_date(&text(&case, "intake_date")),
            categories.join(", "),
            text(&case, "programme"),
            text(&case, "phone"),
            case["document_numbers"][0]["number"].as_str().unwrap_or(""),
            case["consent"]["guardian"].as_str().unwrap_or(""),
            status,
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn main() {
    // `cargo bench` passes --bench; a test run (`cargo test --benches`) passes nothing useful.
    let rows = rows_wanted();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("caseload.csv");
    let bytes = generate(&csv, rows);
    let identity = Identity {
        device: DeviceId::from_bytes([1; 16]),
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let mut store = Store::create(
        &dir.path().join("store.db"),
        "bench passphrase",
        None,
        identity,
        &options,
    )
    .unwrap();
    let sheet = SheetReader::open(&csv, Encoding::Utf8).unwrap();
    let (user_before, system_before) = cpu_seconds();
    let started = Instant::now();
    let report = store
        .import_spreadsheet(
            sheet,
            &Mapping::builtin(),
            &SpreadsheetImportOptions {
                review: true,
                source_name: "caseload.csv".into(),
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let (user_after, system_after) = cpu_seconds();
    let cpu = (user_after - user_before) + (system_after - system_before);
    let t = &report.totals;
    assert_eq!(t.rows_read, rows as u64);
    println!(
        "{}",
        json!({
            "figure": "spreadsheet_import_csv",
            "rows": t.rows_read, "imported": t.imported, "flagged": t.flagged, "refused": t.refused,
            "file_bytes": bytes, "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_s": (t.rows_read as f64 / seconds).round(),
            "cpu_user_s": ((user_after - user_before) * 100.0).round() / 100.0,
            "cpu_system_s": ((system_after - system_before) * 100.0).round() / 100.0,
            "rows_per_cpu_s": (t.rows_read as f64 / cpu).round(),
            "peak_rss_mib": peak_rss_kib() / 1024,
            "first_problems": report.problems.iter().take(3).map(ToString::to_string).collect::<Vec<_>>(),
        })
    );
}
