//! What the facade costs: the same operations timed on core directly and on the facade from
//! Rust, to set beside the Kotlin figures (`FIELDCASE_BENCH=1 FIELDCASE_FFI_PROFILE=release
//! scripts/ffi-kotlin-test.sh`, which times them across the boundary through JNA).
//!
//! `cargo bench -p fieldcase-ffi --bench boundary` prints one line per operation: mean, median
//! and 95th percentile. The case, the store settings (cheap key derivation, synchronous=FULL)
//! and the iteration counts are those of the Kotlin benchmark. Nothing is asserted about time.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::{AgencyCode, DeviceId};
use fieldcase_ffi::{
    create_unenrolled_store_for_tests, AssistanceConsent, CaseData, CaseStatus, Category, Sex,
};
use std::time::{Duration, Instant};

fn sample_case() -> CaseData {
    CaseData {
        given_name: Some("Amina".into()),
        family_name: Some("Okello".into()),
        phone: Some("+256 700 123456".into()),
        sex: Some(Sex::Female),
        nationality: Some("UGA".into()),
        country_of_assistance: Some("KEN".into()),
        intake_date: Some("2024-06-01".into()),
        categories: vec![Category::StrandedMigrant],
        consent_assistance: Some(AssistanceConsent {
            given: true,
            date: "2024-06-01".into(),
            recorded_by: "cw_1".into(),
        }),
        status: Some(CaseStatus::Open),
        answers_json: r#"{"household_size": 4, "interview_language": "sw"}"#.into(),
        ..CaseData::default()
    }
}

fn report(side: &str, name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = micros(samples.iter().sum::<Duration>()) / samples.len() as f64;
    let median = micros(samples[samples.len() / 2]);
    let p95 = micros(samples[samples.len() * 95 / 100]);
    println!(
        "{side:<7} {name:<34} n={:<5} mean {mean:9.2} µs  median {median:9.2} µs  p95 {p95:9.2} µs",
        samples.len()
    );
}

fn time(iterations: usize, mut op: impl FnMut()) -> Vec<Duration> {
    (0..iterations)
        .map(|_| {
            let start = Instant::now();
            op();
            start.elapsed()
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let case = sample_case();

    // Core, called directly, with the same case as the facade gets (as core's JSON form).
    let identity = Identity {
        device: DeviceId::new_random(),
        agency: AgencyCode::parse("iom_uga").expect("agency"),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Full,
    };
    let mut core = Store::create(
        &dir.path().join("core.db"),
        "pass",
        None,
        identity,
        &options,
    )
    .expect("core store");
    let core_case = fieldcase_core::model::Case::from_json(&serde_json::json!({
        "given_name": "Amina", "family_name": "Okello", "phone": "+256 700 123456",
        "sex": "female", "nationality": "UGA", "country_of_assistance": "KEN",
        "intake_date": "2024-06-01", "categories": ["stranded_migrant"],
        "consent": {"assistance": {"given": true, "date": "2024-06-01", "recorded_by": "cw_1"}},
        "status": "open",
        "answers": {"household_size": 4, "interview_language": "sw"}
    }))
    .expect("a valid case");
    for _ in 0..200 {
        core.create_case(&core_case).expect("create");
    }
    report(
        "core",
        "create_case",
        time(1_000, || {
            core.create_case(&core_case).expect("create");
        }),
    );
    let first = core.list_cases(None, 1, 0).expect("list")[0].id;
    report(
        "core",
        "get_case",
        time(2_000, || {
            core.get_case(&first).expect("get");
        }),
    );
    report(
        "core",
        "list_cases(100)",
        time(300, || {
            assert_eq!(core.list_cases(None, 100, 0).expect("list").len(), 100);
        }),
    );

    // The facade, called from Rust: conversion and locking, no FFI.
    let facade = create_unenrolled_store_for_tests(
        dir.path().join("facade.db").to_string_lossy().into_owned(),
        "pass".into(),
        "iom_uga".into(),
        "bench".into(),
    )
    .expect("facade store");
    for _ in 0..200 {
        facade.create_case(case.clone()).expect("create");
    }
    report(
        "facade",
        "is_locked (empty call)",
        time(20_000, || {
            std::hint::black_box(facade.is_locked());
        }),
    );
    report(
        "facade",
        "create_case",
        time(1_000, || {
            facade.create_case(case.clone()).expect("create");
        }),
    );
    let first = facade.list_cases(None, 1, 0).expect("list")[0].id.clone();
    report(
        "facade",
        "get_case",
        time(2_000, || {
            facade.get_case(first.clone()).expect("get");
        }),
    );
    report(
        "facade",
        "list_cases(100)",
        time(300, || {
            assert_eq!(facade.list_cases(None, 100, 0).expect("list").len(), 100);
        }),
    );
}
