//! The server's data directory restored from an older backup, as an operator does after a
//! disk failure.
//!
//! The protocol plans for it on the pull side: a cursor past the end of the restored log gets
//! `reset` and the page from the beginning. These tests check both sides from the devices'
//! point of view: a device that pushed nothing since the backup carries on and its new work
//! reaches its colleagues; a device whose acknowledged operations the restore took away must
//! be told, in a bounded number of requests, rather than loop.

use fieldcase_core::sample::SampleCases;
use fieldcase_e2e::{admin, DeviceOptions, FaultProxy, ProxyConfig, ServerProcess, TestDevice};
use std::path::Path;
use std::time::Duration;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const AGENCY: &str = "iom_uga";
/// A guard against a sync that never ends, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// Copies every file of `from` into `to` (created if missing). Data directories are flat.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Kills the server, replaces its data directory with `backup`, and starts it again.
async fn restore(server: &mut ServerProcess, backup: &Path) {
    server.kill().unwrap();
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(backup, server.data_dir());
    server.restart().await.unwrap();
}

/// Kills the server, copies its data directory to `backup` (a consistent copy: the WAL holds
/// every committed transaction), and starts it again.
async fn back_up(server: &mut ServerProcess, backup: &Path) {
    server.kill().unwrap();
    copy_dir(server.data_dir(), backup);
    server.restart().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_that_pushed_nothing_since_the_backup_carry_on_after_a_restore() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let admin = admin(&server);
    admin.create_agency(AGENCY, "IOM Uganda").await.unwrap();
    let url = server.base_url();
    let enroll = |name: &'static str| {
        TestDevice::enroll(
            &admin,
            &url,
            &url,
            AGENCY,
            dir.path(),
            name,
            DeviceOptions::default(),
        )
    };
    let writer = enroll("writer").await.unwrap();
    let reader = enroll("reader").await.unwrap();
    let mut samples = SampleCases::new(12);

    let before_backup = writer.create_sample_cases(&mut samples, 10);
    writer.sync().await.unwrap();
    reader.sync().await.unwrap();
    let backup = dir.path().join("backup");
    back_up(&mut server, &backup).await;
    // More of the log than the backup holds, pulled by the reader: its cursor now points
    // past the end of the log the restore brings back.
    let lost = writer.create_sample_cases(&mut samples, 10);
    writer.sync().await.unwrap();
    reader.sync().await.unwrap();
    assert_eq!(reader.count_cases(), 20);
    restore(&mut server, &backup).await;

    // The reader's cursor is reset; its sync succeeds and its new work goes through.
    let mine = reader.create_sample_cases(&mut samples, 3);
    let outcome = reader.sync().await.unwrap();
    assert_eq!(outcome.pushed, 3);
    assert!(reader.status().synced);
    let fresh = enroll("fresh").await.unwrap();
    fresh.sync().await.unwrap();
    let expected: std::collections::BTreeSet<_> =
        before_backup.iter().chain(&mine).copied().collect();
    assert_eq!(
        fresh.case_ids(),
        expected,
        "the restored log plus what was pushed since"
    );
    // The cases the restore took from the server are kept by the device that pulled them:
    // with the writer's outbox trimmed, it holds the only copy left.
    let held = reader.case_ids();
    assert!(lost.iter().all(|id| held.contains(id)));
    assert_eq!(held.len(), 23);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_ahead_of_a_restored_server_is_told_in_a_few_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.addr(), ProxyConfig::pass_through())
        .await
        .unwrap();
    let admin = admin(&server);
    admin.create_agency(AGENCY, "IOM Uganda").await.unwrap();
    let phone = TestDevice::enroll(
        &admin,
        &server.base_url(),
        &proxy.base_url(),
        AGENCY,
        dir.path(),
        "phone",
        DeviceOptions::default(),
    )
    .await
    .unwrap();
    let mut samples = SampleCases::new(13);

    phone.create_sample_cases(&mut samples, 10);
    phone.sync().await.unwrap();
    let backup = dir.path().join("backup");
    back_up(&mut server, &backup).await;
    // Acknowledged, so they leave the phone's outbox; the restore then takes them away.
    phone.create_sample_cases(&mut samples, 10);
    phone.sync().await.unwrap();
    restore(&mut server, &backup).await;

    // The next operation (seq 21) is a gap for a server whose last_seq for the phone is 10.
    phone.create_sample_cases(&mut samples, 1);
    let requests_before = proxy.stats().requests;
    let result = tokio::time::timeout(PATIENCE, phone.sync()).await;
    let requests = proxy.stats().requests - requests_before;
    assert!(
        requests <= 3,
        "a sync the server can never accept made {requests} requests (finished: {})",
        result.is_ok()
    );
    let result = result.expect("the sync ends");
    assert!(
        result.is_err(),
        "the phone is told its work cannot be accepted"
    );
    let status = phone.status();
    assert_eq!(
        status.pending_ops, 1,
        "the unaccepted operation stays in the outbox"
    );
    assert!(!status.synced && status.last_error.is_some(), "{status:?}");
}
