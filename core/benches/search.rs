//! Search at typing speed: name (one word, two words, as typed), phone and document searches
//! among 100,000 generated cases, answered with summaries.
//!
//! The store is built once per run (import of generated cases, cheap key derivation). Two
//! measurements per query kind:
//! - criterion's, cycling through varied queries of that kind (its median is of batch means);
//! - p50 and p99 of single queries timed one by one over the same queries, printed as one JSON
//!   object per kind (criterion has no percentiles of single calls).
//!
//! Run: `cargo bench -p fieldcase-core --bench search` (`SEARCH_BENCH_CASES` for another
//! size). Also prints the index and summary footprint per case.

use criterion::{criterion_group, criterion_main, Criterion};
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::import::ImportOptions;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, SearchQuery, Store};
use fieldcase_core::{AgencyCode, DeviceId};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Queries timed one by one per kind, for the percentiles.
const TIMED_QUERIES: usize = 2000;

fn cases_wanted() -> usize {
    std::env::var("SEARCH_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn build_store(dir: &std::path::Path, count: usize) -> (Store, Vec<Value>) {
    let identity = Identity {
        device: DeviceId::from_bytes([1; 16]),
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let path = dir.join("search.db");
    let mut store = Store::create(&path, "pass", None, identity, &options).unwrap();
    let mut picked = Vec::new();
    let mut lines = String::new();
    let start = Instant::now();
    for (i, case) in SampleCases::new(11).take(count).enumerate() {
        lines.push_str(&case.to_string());
        lines.push('\n');
        if i % 37 == 0 {
            picked.push(case);
        }
        if lines.len() > 8 << 20 {
            store
                .import_jsonl(lines.as_bytes(), &ImportOptions::default(), &mut |_| {})
                .unwrap();
            lines.clear();
        }
    }
    store
        .import_jsonl(lines.as_bytes(), &ImportOptions::default(), &mut |_| {})
        .unwrap();
    store.checkpoint().unwrap();
    let db_bytes = std::fs::metadata(&path).unwrap().len();
    store.close().unwrap();
    let store = Store::open(&path, "pass", None, &options).unwrap();
    let footprint = footprint(&path);
    println!(
        "{}",
        json!({"figure": "search_store_built", "cases": count, "seconds": start.elapsed().as_secs_f64(),
               "file_bytes_per_case": db_bytes as f64 / count as f64,
               "index_rows_per_case": footprint.0 as f64 / count as f64,
               "index_bytes_per_case": footprint.1 as f64 / count as f64,
               "summary_bytes_per_case": footprint.2 as f64 / count as f64})
    );
    (store, picked)
}

/// Index rows, index bytes (table and its by-record index) and summary bytes, from dbstat
/// when this SQLite has it (zeros otherwise).
fn footprint(path: &std::path::Path) -> (u64, u64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: u64 = conn
        .query_row("SELECT count(*) FROM search_index", [], |r| r.get(0))
        .unwrap();
    let bytes = |names: &str| -> u64 {
        conn.query_row(
            &format!("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({names})"),
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    (
        rows,
        bytes("'search_index', 'search_index_by_record'"),
        bytes("'case_summaries'"),
    )
}

fn text(case: &Value, key: &str) -> String {
    case[key].as_str().unwrap_or_default().to_owned()
}

/// Varied queries of each kind, from generated cases spread over the store.
fn query_sets(picked: &[Value]) -> Vec<(&'static str, Vec<SearchQuery>)> {
    let first_word = |s: String| s.split_whitespace().next().unwrap_or_default().to_owned();
    let prefix = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let name = |f: &dyn Fn(&Value) -> String| -> Vec<SearchQuery> {
        picked.iter().map(|c| SearchQuery::Name(f(c))).collect()
    };
    vec![
        (
            "name, one word",
            name(&|c| first_word(text(c, "family_name"))),
        ),
        (
            "name, two words",
            name(&|c| {
                format!(
                    "{} {}",
                    text(c, "given_name"),
                    first_word(text(c, "family_name"))
                )
            }),
        ),
        (
            "name, as typed (3 letters)",
            name(&|c| prefix(&text(c, "family_name"), 3)),
        ),
        (
            "name, as typed (word + 4 letters)",
            name(&|c| {
                format!(
                    "{} {}",
                    text(c, "given_name"),
                    prefix(&text(c, "family_name"), 4)
                )
            }),
        ),
        (
            "phone",
            picked
                .iter()
                .map(|c| SearchQuery::Phone(text(c, "phone")))
                .collect(),
        ),
        (
            "document",
            picked
                .iter()
                .map(|c| {
                    SearchQuery::Document(
                        c["document_numbers"][0]["number"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    )
                })
                .collect(),
        ),
    ]
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1e3
}

fn benches(c: &mut Criterion) {
    let count = cases_wanted();
    let dir =
        tempfile::tempdir_in(std::env::var("SEARCH_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    let (store, picked) = build_store(dir.path(), count);
    for (label, queries) in query_sets(&picked) {
        // Warm the page cache the way a phone in use has it, then time single queries.
        for query in queries.iter().take(200) {
            store.search(query).unwrap();
        }
        let mut timings = Vec::with_capacity(TIMED_QUERIES);
        let mut found = 0usize;
        for query in queries.iter().cycle().take(TIMED_QUERIES) {
            let start = Instant::now();
            found += store.search(query).unwrap().len();
            timings.push(start.elapsed());
        }
        println!(
            "{}",
            json!({"figure": "search", "kind": label, "cases": count, "queries": timings.len(),
                   "mean_results": found as f64 / timings.len() as f64,
                   "p50_ms": percentile(&mut timings, 0.5), "p99_ms": percentile(&mut timings, 0.99)})
        );
        let mut next = queries.iter().cycle();
        c.bench_function(&format!("search among {count} cases: {label}"), |b| {
            b.iter(|| store.search(next.next().unwrap()).unwrap())
        });
    }
}

criterion_group! {
    name = search_benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(search_benches);
