//! Criterion micro-benchmarks of the store's hot paths: a committed save, a name search,
//! sealing a case-sized value. The headline figures (100,000-case import against a plaintext
//! baseline, percentiles, peak memory) are in the `figures` bench.

use criterion::{criterion_group, criterion_main, Criterion};
use fieldcase_core::crypto::{Aad, DataKey, KdfParams};
use fieldcase_core::import::ImportOptions;
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, SearchQuery, Store};
use fieldcase_core::{AgencyCode, DeviceId};

fn store_with(dir: &std::path::Path, cases: usize) -> (Store, Vec<serde_json::Value>) {
    let identity = Identity {
        device: DeviceId::from_bytes([1; 16]),
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Full,
    };
    let mut store = Store::create(&dir.join("bench.db"), "pass", None, identity, &options).unwrap();
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

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
