//! A first sync pulled in many pages, with the next page asked for while the current one is
//! applied.
//!
//! Proves: every case arrives once and identical to the source's; each page is asked for with
//! the cursor of the page before it (no page repeated or skipped: the request count is the
//! page count); and work saved on the device while the pull runs is pushed in the same run,
//! after the pull, by a request of its own.

use fieldcase_core::sample::SampleCases;
use fieldcase_e2e::{admin, DeviceOptions, ServerProcess, TestDevice};
use std::sync::atomic::{AtomicBool, Ordering};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const AGENCY: &str = "iom_ken";
/// Nine pages of seven: the last one short.
const BACKLOG: usize = 60;
const PAGE: u32 = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_first_sync_pulls_every_case_once_and_pushes_what_was_saved_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let admin = admin(&server);
    let url = server.base_url();
    admin.create_agency(AGENCY, "IOM Kenya").await.unwrap();
    let enroll = |name: &'static str, pull_limit| {
        TestDevice::enroll(
            &admin,
            &url,
            &url,
            AGENCY,
            dir.path(),
            name,
            DeviceOptions {
                pull_limit,
                ..DeviceOptions::default()
            },
        )
    };
    let source = enroll("source", None).await.unwrap();
    source.create_sample_cases(&mut SampleCases::new(5), BACKLOG);
    source.sync().await.unwrap();

    let target = enroll("target", Some(PAGE)).await.unwrap();
    let samples = std::sync::Mutex::new(SampleCases::new(6));
    let saved_meanwhile = AtomicBool::new(false);
    let outcome = target
        .sync_with_progress(&|progress| {
            // After the first page is applied (the second is already asked for), a caseworker
            // records a case.
            if progress.pulled > 0 && !saved_meanwhile.swap(true, Ordering::SeqCst) {
                target.create_sample_cases(&mut samples.lock().unwrap(), 1);
            }
        })
        .await
        .unwrap();

    let pages = BACKLOG.div_ceil(PAGE as usize);
    assert!(saved_meanwhile.load(Ordering::SeqCst));
    assert_eq!(outcome.pulled, BACKLOG as u64);
    assert_eq!(
        outcome.pushed, 1,
        "the case saved during the pull was pushed"
    );
    assert_eq!(
        outcome.requests,
        pages + 1,
        "one request per page, then one for the push"
    );
    assert_eq!(target.status().pending_ops, 0);
    // The target holds the source's cases, identical, plus its own new one.
    let differences = source.snapshot().differences(&target.snapshot());
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(differences[0].ends_with("only on the second device"));

    // The source gets the new case; both agree, and a second sync of the target has nothing.
    source.sync().await.unwrap();
    assert_eq!(
        source.snapshot().differences(&target.snapshot()),
        Vec::<String>::new()
    );
    let again = target.sync().await.unwrap();
    assert_eq!((again.requests, again.pulled, again.pushed), (1, 0, 0));
}
