//! Criterion micro-benchmarks of the store's hot paths: a committed save, a name search,
//! sealing a case-sized value, and a first sync's device side (10,000 pulled cases applied to
//! a fresh store in pages of 1,000, as the sync client applies them). The headline figures (100,000-case import against a plaintext
//! baseline, percentiles, peak memory) are in the `figures` bench.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use fieldcase_core::crypto::{Aad, DataKey, KdfParams};
use fieldcase_core::import::ImportOptions;
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, SearchQuery, Store};
use fieldcase_core::{AgencyCode, DeviceId, Operation};

/// Cases of a first sync, and the page size the server sends by default.
const FIRST_SYNC_CASES: usize = 10_000;
const PAGE: usize = 1_000;

fn store_with(dir: &std::path::Path, cases: usize) -> (Store, Vec<serde_json::Value>) {
    store_of(dir, "bench.db", [1; 16], cases)
}

fn store_of(
    dir: &std::path::Path,
    file: &str,
    device: [u8; 16],
    cases: usize,
) -> (Store, Vec<serde_json::Value>) {
    let identity = Identity {
        device: DeviceId::from_bytes(device),
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Full,
    };
    let mut store = Store::create(&dir.join(file), "pass", None, identity, &options).unwrap();
    let sample: Vec<serde_json::Value> = SampleCases::new(3).take(cases).collect();
    let lines: String = sample.iter().map(|c| format!("{c}\n")).collect();
    store
        .import_jsonl(lines.as_bytes(), &ImportOptions::default(), &mut |_| {})
        .unwrap();
    (store, sample)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, sample) = store_with(dir.path(), 10_000);
    let case = Case::from_json(&sample[0]).unwrap();
    c.bench_function("save one case (committed, synchronous=FULL)", |b| {
        b.iter(|| store.create_case(&case).unwrap())
    });
    let name = format!(
        "{} {}",
        sample[5]["given_name"].as_str().unwrap(),
        sample[5]["family_name"].as_str().unwrap()
    );
    c.bench_function("search by name among 10k cases", |b| {
        b.iter(|| store.search(&SearchQuery::Name(name.clone())).unwrap())
    });
    let keys = DataKey::generate().derive_store_keys();
    let plaintext = vec![7u8; 1200];
    let aad = Aad {
        table: "records",
        record: &[1; 16],
        part: "state",
    };
    c.bench_function("seal 1.2 KB", |b| {
        b.iter(|| keys.seal.seal(aad, &plaintext))
    });
}

/// A first sync's device side: another device's 10,000 cases, applied page by page to a
/// fresh store with SQLite's checkpoints deferred to one at the end, as `sync_once` does.
/// Durability `Full`, a phone's default. (`--profile-time 20` runs it for a profiler.)
fn first_sync_apply(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = store_of(dir.path(), "source.db", [2; 16], FIRST_SYNC_CASES);
    let ops: Vec<Operation> = source.pending_ops(usize::MAX).unwrap();
    assert_eq!(ops.len(), FIRST_SYNC_CASES);
    let mut group = c.benchmark_group("first sync");
    group.sample_size(10);
    let mut run = 0u32;
    group.bench_function(
        "apply 10,000 cases in pages of 1,000 to a fresh store",
        |b| {
            b.iter_batched(
                || {
                    run += 1;
                    let (store, _) = store_of(dir.path(), &format!("fresh-{run}.db"), [3; 16], 0);
                    store
                },
                |mut store| {
                    store.begin_sync_writes().unwrap();
                    for (n, page) in ops.chunks(PAGE).enumerate() {
                        store.apply_remote(page, &format!("cursor.{n}")).unwrap();
                    }
                    store.end_sync_writes().unwrap();
                    store
                },
                BatchSize::PerIteration,
            )
        },
    );
    group.finish();
}

criterion_group!(store_benches, benches, first_sync_apply);
criterion_main!(store_benches);
