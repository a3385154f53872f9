//! Time and peak memory of the central office's work at scale: the full report set (every
//! table, in both counts, exact and public) and the duplicate review list, over 100,000 and
//! 1,000,000 cases.
//!
//! ```sh
//! cargo bench -p fieldcase-server --bench reports                      # 100,000 cases
//! REPORTS_BENCH_CASES=100000,1000000 cargo bench -p fieldcase-server --bench reports
//! # …and the same population in PostgreSQL too (a throwaway server from the test script):
//! REPORTS_BENCH_POSTGRES=1 scripts/with-postgres.sh cargo bench -p fieldcase-server --bench reports
//! REPORTS_BENCH_PHASES=utility cargo bench -p fieldcase-server --bench reports   # one phase
//! # keep the populated database for a server (the dashboard's measurement, docs/dashboard.md):
//! REPORTS_BENCH_KEEP=/tmp/100k.db REPORTS_BENCH_PHASES= cargo bench -p fieldcase-server --bench reports
//! ```
//!
//! The `utility` phase measures the cost of disclosure control: the mean absolute error of
//! every published count against the exact one.
//!
//! **Population.** Cases from `fieldcase_core::sample::SampleCases` (seeded), spread over five
//! agencies; every 50th person re-recorded by another agency with given and family names
//! swapped and the date of birth cut to the year (2% known duplicates; half of those pairs
//! confirmed); 5% of cases referred to another agency, most answered. They are written with
//! `SqliteStorage::bulk_load_*`: the same derivation and sealing of report facts and keyed
//! match profiles as a sync, in transactions of 10,000 cases, without the operation log and
//! sealed states (which reports never read). Loading time is printed but is not what is
//! measured; every report opens each sealed row it reads, so that cost is in the figures.
//!
//! **PostgreSQL.** With `REPORTS_BENCH_POSTGRES=1` (and `FIELDCASE_TEST_DATABASE_URL`, which
//! `scripts/with-postgres.sh` sets), the populated SQLite file is then moved into a fresh
//! PostgreSQL database with `fieldcase admin migrate-store`'s code (timed, verified by its
//! counts and checksums), and every phase runs again against that database.
//!
//! **Measurement.** Each phase runs in a fresh process (this binary, re-executed with
//! `REPORTS_BENCH_PHASE`) on the populated database, so its peak memory (`VmHWM`) is the
//! phase's alone: the SQLite page cache, the engine's group tables, the review list. Times
//! are wall-clock on whatever else the machine is doing.

use fieldcase_core::model::{Case, Date};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::reports::cellkey::PerturbationTable;
use fieldcase_server::reports::disclosure::publish;
use fieldcase_server::reports::duplicates::CandidateCache;
use fieldcase_server::reports::engine::{compute, CountMode, ReportRequest, TABLE_IDS};
use fieldcase_server::reports::facts::FactFilter;
use fieldcase_server::reports::table::CellRef;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::migrate;
use fieldcase_server::storage::postgres::testing::TempDatabase;
use fieldcase_server::storage::postgres::PostgresStorage;
use fieldcase_server::storage::sqlite::bulk::BulkReferral;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{DuplicateDecision, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const KEY: [u8; 32] = [42; 32];
const AGENCIES: [&str; 5] = ["iom_uga", "iom_ken", "iom_eth", "shelter_kla", "clinic_nbo"];
const BATCH: usize = 10_000;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn open(db: &Path) -> SqliteStorage {
    SqliteStorage::open(db, Sealer::from_key(&KEY)).expect("open the bench database")
}

/// Where a phase reads: the SQLite file, or a PostgreSQL URL (`postgres…`).
fn open_store(location: &str) -> Box<dyn Storage> {
    if location.starts_with("postgres") {
        Box::new(
            PostgresStorage::connect(location, Sealer::from_key(&KEY))
                .expect("connect to the bench database"),
        )
    } else {
        Box::new(open(Path::new(location)))
    }
}

/// Fills a fresh database with `n` cases (plus 2% re-recordings) and returns how long it took.
fn populate(db: &Path, n: usize) -> f64 {
    let started = Instant::now();
    let storage = open(db);
    for code in AGENCIES {
        fieldcase_server::service::forms::create_agency(
            &storage,
            &AgencyCode::parse(code).unwrap(),
            code,
            0,
        )
        .unwrap();
    }
    let agencies: Vec<AgencyCode> = AGENCIES
        .iter()
        .map(|a| AgencyCode::parse(a).unwrap())
        .collect();
    let mut generator = SampleCases::new(7);
    let mut rng = StdRng::seed_from_u64(11);
    let mut batches: Vec<Vec<(RecordId, Case)>> = vec![Vec::new(); AGENCIES.len()];
    let mut referrals = Vec::new();
    let mut decisions = Vec::new();
    let flush = |batches: &mut Vec<Vec<(RecordId, Case)>>, referrals: &mut Vec<BulkReferral>| {
        for (i, batch) in batches.iter_mut().enumerate() {
            if !batch.is_empty() {
                storage.bulk_load_cases(&agencies[i], batch).unwrap();
                batch.clear();
            }
        }
        storage.bulk_load_referrals(referrals).unwrap();
        referrals.clear();
    };
    for i in 0..n {
        let json = generator.next_case();
        let agency = i % AGENCIES.len();
        let id = RecordId::new();
        if i % 50 == 0 {
            let mut dup = json.clone();
            dup["given_name"] = json["family_name"].clone();
            dup["family_name"] = json["given_name"].clone();
            let dob = json["date_of_birth"].as_str().unwrap_or("1990").to_owned();
            dup["date_of_birth"] = json!(&dob[..4]);
            dup["document_numbers"] = json!([]);
            dup.as_object_mut().unwrap().remove("phone");
            let other = (agency + 1) % AGENCIES.len();
            let dup_id = RecordId::new();
            if let Ok(case) = Case::from_json(&dup) {
                batches[other].push((dup_id, case));
                if i % 100 == 0 {
                    decisions.push(DuplicateDecision {
                        record_a: id,
                        record_b: dup_id,
                        confirmed: true,
                        decided_at_ms: 0,
                        decided_by: "bench".into(),
                    });
                }
            }
        }
        let case = Case::from_json(&json).expect("sample cases are valid");
        let intake_ms = case
            .intake_date
            .map(|d: Date| d.days_since_epoch() as u64 * 86_400_000)
            .unwrap_or(0);
        batches[agency].push((id, case));
        if i % 20 == 0 {
            let to = (agency + 1 + rng.gen_range(0..AGENCIES.len() - 1)) % AGENCIES.len();
            let answered = rng.gen_bool(0.8);
            let accepted = rng.gen_bool(0.7);
            let answer_status = if accepted {
                ReferralStatus::Accepted
            } else {
                ReferralStatus::Declined
            };
            let status = match (answered, accepted, rng.gen_bool(0.4)) {
                (false, _, _) => ReferralStatus::Sent,
                (true, true, true) => ReferralStatus::Completed,
                (true, _, _) => answer_status,
            };
            referrals.push(BulkReferral {
                referral: RecordId::new(),
                case_id: id,
                from: agencies[agency].clone(),
                to: agencies[to].clone(),
                status,
                sent_at_ms: intake_ms,
                answer: answered.then(|| {
                    (
                        answer_status,
                        intake_ms + rng.gen_range(600_000..900_000_000),
                    )
                }),
            });
        }
        if (i + 1) % BATCH == 0 {
            flush(&mut batches, &mut referrals);
        }
    }
    flush(&mut batches, &mut referrals);
    storage.bulk_load_decisions(&decisions).unwrap();
    storage.close();
    started.elapsed().as_secs_f64()
}

/// One measured phase, in this process: prints a JSON line with seconds and peak memory.
fn phase(name: &str, location: &str) {
    let owned = open_store(location);
    let storage: &dyn Storage = &*owned;
    let rss_before = status_kib("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let detail = match name {
        "reports" => {
            let mut cells = 0usize;
            for count in [CountMode::Assistance, CountMode::Individuals] {
                let request = ReportRequest {
                    filter: FactFilter::default(),
                    count,
                    tables: TABLE_IDS.to_vec(),
                    keys: Some(storage.cell_keys()),
                };
                let (mut tables, _) = compute(storage, &request).unwrap();
                cells += tables.iter().map(|t| t.rows.len()).sum::<usize>();
                let perturbation = PerturbationTable::new(5);
                for t in &mut tables {
                    publish(t, &perturbation, 5);
                }
            }
            json!({"tables": TABLE_IDS.len() * 2, "rows": cells})
        }
        "report_year" => {
            let request = ReportRequest {
                filter: FactFilter {
                    from: Date::new(2025, 1, 1),
                    to: Date::new(2025, 12, 31),
                    ..FactFilter::default()
                },
                count: CountMode::Individuals,
                tables: TABLE_IDS.to_vec(),
                keys: None,
            };
            let (tables, linked) = compute(storage, &request).unwrap();
            json!({"tables": tables.len(), "linked_cases": linked.count})
        }
        "duplicates" => {
            // The scan, through the cache the server uses; then what a reviewer's next page
            // costs: the cached candidates plus a fresh read of the decisions.
            let cache = CandidateCache::default();
            let (list, stats) = cache.review_list(storage).unwrap();
            let next_page = Instant::now();
            let (cached, _) = cache.review_list(storage).unwrap();
            let next_page_seconds = next_page.elapsed().as_secs_f64();
            assert_eq!(cached.len(), list.len());
            json!({
                "candidates": list.len(),
                "blocks": stats.blocks,
                "blocks_skipped": stats.blocks_skipped,
                "comparisons": stats.comparisons,
                "next_page_seconds_cached": next_page_seconds,
            })
        }
        "utility" => {
            // The cost of disclosure control: every published count (perturbed, then the
            // small-count rules) against the exact one, over all tables, all time and 2025,
            // both counts.
            let perturbation = PerturbationTable::new(5);
            let (mut error, mut cells) = ([0u64; 2], [0u64; 2]);
            for count in [CountMode::Assistance, CountMode::Individuals] {
                for (from, to) in [
                    (None, None),
                    (Date::new(2025, 1, 1), Date::new(2025, 12, 31)),
                ] {
                    let request = ReportRequest {
                        filter: FactFilter {
                            from,
                            to,
                            ..FactFilter::default()
                        },
                        count,
                        tables: TABLE_IDS.to_vec(),
                        keys: Some(storage.cell_keys()),
                    };
                    let (tables, _) = compute(storage, &request).unwrap();
                    for exact in tables {
                        let mut public = exact.clone();
                        publish(&mut public, &perturbation, 5);
                        for at in exact.all_cells() {
                            let e = exact.cell(at).and_then(|c| c.count);
                            // Ranked tables reorder rows: match them by key.
                            let p = match at {
                                CellRef::Cell(i, j) => public
                                    .rows
                                    .iter()
                                    .find(|r| r.key == exact.rows[i].key)
                                    .and_then(|r| r.cells[j].count),
                                _ => public.cell(at).and_then(|c| c.count),
                            };
                            if let (Some(e), Some(p)) = (e, p) {
                                for k in 0..1 + usize::from(e > 0) {
                                    error[k] += e.abs_diff(p);
                                    cells[k] += 1;
                                }
                            }
                        }
                    }
                }
            }
            let mae = |k: usize| error[k] as f64 / cells[k].max(1) as f64;
            json!({
                "cells": cells[0],
                "mean_absolute_error": mae(0),
                "nonzero_cells": cells[1],
                "mean_absolute_error_nonzero": mae(1),
            })
        }
        other => panic!("unknown phase {other}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "phase": name,
            "seconds": seconds,
            "peak_kib": status_kib("VmHWM:"),
            "rss_before_kib": rss_before,
            "detail": detail,
        })
    );
}

fn run_phase(location: &str, name: &str) -> serde_json::Value {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .env("REPORTS_BENCH_PHASE", name)
        .env("REPORTS_BENCH_DB", location)
        .output()
        .expect("run a phase");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("a result line");
    serde_json::from_str(line).unwrap()
}

fn main() {
    if let Ok(name) = std::env::var("REPORTS_BENCH_PHASE") {
        phase(&name, &std::env::var("REPORTS_BENCH_DB").unwrap());
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let scales: Vec<usize> = std::env::var("REPORTS_BENCH_CASES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("REPORTS_BENCH_CASES: numbers"))
        .collect();
    for n in scales {
        let dir = match std::env::var("REPORTS_BENCH_DIR") {
            Ok(d) => tempfile::tempdir_in(d).unwrap(),
            Err(_) => tempfile::tempdir().unwrap(),
        };
        let db = dir.path().join("bench.db");
        let load = populate(&db, n);
        let size_mib = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        println!("{n} cases (+2% re-recorded): loaded in {load:.1} s, database {size_mib:.0} MiB");
        if let Ok(keep) = std::env::var("REPORTS_BENCH_KEEP") {
            // Sealed under the bench's key: serve it with FIELDCASE_SERVER_KEY set to that key.
            std::fs::copy(&db, &keep).expect("copy the populated database");
            println!("  kept as {keep}");
        }
        run_phases("SQLite", &db.display().to_string());
        if std::env::var_os("REPORTS_BENCH_POSTGRES").is_some() {
            let database = TempDatabase::create();
            let started = Instant::now();
            let copied = migrate::sqlite_to_postgres(&db, &database.url(), |_| {})
                .expect("move the population into PostgreSQL");
            let rows: u64 = copied.iter().map(|t| t.rows).sum();
            let mut client = postgres::Client::connect(&database.url(), postgres::NoTls).unwrap();
            let bytes: i64 = client
                .query_one("SELECT pg_database_size(current_database())", &[])
                .unwrap()
                .get(0);
            println!(
                "  moved into PostgreSQL in {:.1} s ({rows} rows), database {:.0} MiB",
                started.elapsed().as_secs_f64(),
                bytes as f64 / 1048576.0
            );
            run_phases("PostgreSQL", &database.url());
        }
    }
}

fn run_phases(backend: &str, location: &str) {
    println!(" {backend}:");
    let phases = std::env::var("REPORTS_BENCH_PHASES")
        .unwrap_or_else(|_| "reports,report_year,duplicates,utility".into());
    for name in phases.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let r = run_phase(location, name);
        println!(
            "  {name:<12} {:>8.2} s  peak {:>7.1} MiB (at start {:.1} MiB)  {}",
            r["seconds"].as_f64().unwrap(),
            r["peak_kib"].as_f64().unwrap() / 1024.0,
            r["rss_before_kib"].as_f64().unwrap() / 1024.0,
            r["detail"]
        );
    }
}
