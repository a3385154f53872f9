//! What reading an attachment costs: the same reads timed on core directly and on the facade
//! from Rust, to set beside the Kotlin figures (`FIELDCASE_BENCH=1 FIELDCASE_FFI_PROFILE=release
//! scripts/ffi-kotlin-test.sh`, `BoundaryBenchmarkTest`), which read through JNA.
//!
//! `cargo bench -p fieldcase-ffi --bench attachment_read` prints one line per read: MB/s
//! (10^6 bytes per second) at the median and at the best run. The sizes, store settings (cheap
//! key derivation) and iteration counts are the Kotlin benchmark's: an 8 MiB scan read to a
//! file, a 4 MiB photo read to memory. Nothing is asserted about time.

use fieldcase_ffi::create_unenrolled_store_for_tests;
use std::time::{Duration, Instant};

fn jpeg(size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((4..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn report(side: &str, name: &str, bytes: usize, mut samples: Vec<Duration>) {
    samples.sort();
    let rate = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let median = samples[samples.len() / 2];
    println!(
        "{side:<7} {name:<34} n={:<5} median {:8.1} MB/s  best {:8.1} MB/s  (median {:7.2} ms)",
        samples.len(),
        rate(median),
        rate(samples[0]),
        median.as_secs_f64() * 1e3
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

/// A core store (cheap key derivation) with the scan and the photo attached to one case.
fn core_store(
    dir: &std::path::Path,
    scan: &[u8],
    photo: &[u8],
) -> (
    fieldcase_core::store::Store,
    fieldcase_core::RecordId,
    fieldcase_core::RecordId,
) {
    use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
    let identity = Identity {
        device: fieldcase_core::DeviceId::new_random(),
        agency: fieldcase_core::AgencyCode::parse("iom_uga").expect("agency"),
        user: "bench".into(),
    };
    let options = OpenOptions {
        kdf: fieldcase_core::crypto::KdfParams::insecure_fast_for_tests(),
        durability: Durability::Full,
    };
    let mut store =
        Store::create(&dir.join("core.db"), "pass", None, identity, &options).expect("store");
    let case = fieldcase_core::model::Case::from_json(&serde_json::json!({
        "sex": "female", "nationality": "UGA", "country_of_assistance": "KEN",
        "intake_date": "2024-06-01", "categories": ["stranded_migrant"],
        "consent": {"assistance": {"given": true, "date": "2024-06-01", "recorded_by": "cw_1"}},
        "status": "open"
    }))
    .expect("a valid case");
    let case_id = store.create_case(&case).expect("case");
    let scan_id = store
        .add_attachment(&case_id, "image/jpeg", scan, None)
        .expect("scan");
    let photo_id = store
        .add_attachment(&case_id, "image/jpeg", photo, None)
        .expect("photo");
    (store, scan_id, photo_id)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let facade = create_unenrolled_store_for_tests(
        dir.path().join("bench.db").to_string_lossy().into_owned(),
        "pass".into(),
        "iom_uga".into(),
        "bench".into(),
    )
    .expect("store");
    let case_id = facade
        .create_case(fieldcase_ffi::CaseData {
            sex: Some(fieldcase_ffi::Sex::Female),
            nationality: Some("UGA".into()),
            country_of_assistance: Some("KEN".into()),
            intake_date: Some("2024-06-01".into()),
            categories: vec![fieldcase_ffi::Category::StrandedMigrant],
            consent_assistance: Some(fieldcase_ffi::AssistanceConsent {
                given: true,
                date: "2024-06-01".into(),
                recorded_by: "cw_1".into(),
            }),
            status: Some(fieldcase_ffi::CaseStatus::Open),
            ..Default::default()
        })
        .expect("case");
    let scan = jpeg(8 * 1024 * 1024, 3);
    let scan_path = dir.path().join("scan.jpg");
    std::fs::write(&scan_path, &scan).expect("scan file");
    let scan_id = facade
        .attach_file(
            case_id.clone(),
            scan_path.to_string_lossy().into_owned(),
            "image/jpeg".into(),
            None,
            None,
        )
        .expect("attach scan");
    let photo = jpeg(4 * 1024 * 1024, 4);
    let photo_id = facade
        .attach_bytes(case_id, photo.clone(), "image/jpeg".into(), None, None)
        .expect("attach photo");
    let out = dir.path().join("out.jpg");
    let out_text = out.to_string_lossy().into_owned();

    // Core, called directly, on a store of its own holding the same two attachments.
    let mut core = core_store(dir.path(), &scan, &photo);
    let (core_scan, core_photo) = (core.1, core.2);
    let core = &mut core.0;
    let read_core_file = || {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&out).expect("out"));
        core.read_attachment_to(&core_scan, &mut file, &mut |_, _| {})
            .expect("read");
    };
    for _ in 0..5 {
        read_core_file();
    }
    report(
        "core",
        "read 8 MiB to a file",
        scan.len(),
        time(20, read_core_file),
    );
    let read_core_bytes = || {
        let mut content = Vec::with_capacity(photo.len());
        core.read_attachment_to(&core_photo, &mut content, &mut |_, _| {})
            .expect("read");
        assert_eq!(content.len(), photo.len());
    };
    report(
        "core",
        "read 4 MiB to a Vec",
        photo.len(),
        time(30, read_core_bytes),
    );

    // The facade from Rust: its runtime, the temporary file and rename, no FFI.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    report(
        "facade",
        "read 8 MiB to a file",
        scan.len(),
        time(20, || {
            runtime
                .block_on(facade.read_attachment_to_file(scan_id.clone(), out_text.clone(), None))
                .expect("read");
        }),
    );
    report(
        "facade",
        "read 4 MiB to bytes",
        photo.len(),
        time(30, || {
            let bytes = runtime
                .block_on(facade.read_attachment_bytes(photo_id.clone(), None))
                .expect("read");
            assert_eq!(bytes.len(), photo.len());
        }),
    );
}
