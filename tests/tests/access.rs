//! The access rules and bad answers, seen from a device.
//!
//! The server's own tests (`server/tests/http/access.rs`) check the HTTP answers. These check
//! what a device ends up holding: an operation on another agency's record is refused, kept
//! aside on the device that made it (nothing lost), and never reaches the owner's devices; a
//! revoked device is refused and wiped, with no file left behind and its unsent work never
//! reaching anyone; and a captive portal's HTML page instead of a sync reply changes nothing
//! on the device and is not retried in a loop.

use fieldcase_core::model::{Case, Fields};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::StoreError;
use fieldcase_core::sync::SyncError;
use fieldcase_e2e::{
    admin, fast_retry, DeviceOptions, FaultKind, FaultProxy, ProxyConfig, ServerProcess, TestDevice,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");

async fn start(dir: &Path, agencies: &[&str]) -> ServerProcess {
    let server = ServerProcess::start(SERVER_BIN, dir.join("server"))
        .await
        .unwrap();
    let admin = admin(&server);
    for agency in agencies {
        admin.create_agency(agency, agency).await.unwrap();
    }
    server
}

async fn device(server: &ServerProcess, dir: &Path, agency: &str, name: &str) -> TestDevice {
    let url = server.base_url();
    TestDevice::enroll(
        &admin(server),
        &url,
        &url,
        agency,
        dir,
        name,
        DeviceOptions::default(),
    )
    .await
    .unwrap()
}

/// The values of an operation's fields.
fn values(op: &fieldcase_core::Operation) -> Fields {
    op.fields
        .iter()
        .map(|(key, change)| (key.clone(), change.value.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_another_agency_record_are_refused_kept_aside_and_never_reach_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["agency_a", "agency_b"]).await;
    let a1 = device(&server, dir.path(), "agency_a", "a1").await;
    let a2 = device(&server, dir.path(), "agency_a", "a2").await;
    let b1 = device(&server, dir.path(), "agency_b", "b1").await;
    let b2 = device(&server, dir.path(), "agency_b", "b2").await;
    let mut samples = SampleCases::new(4);

    let x = a1.create_case(&samples.next_case());
    a1.sync().await.unwrap();
    let x_on_a = a1.case_fields(&x);

    // Agency B imports an old spreadsheet that carries A's record id on one line (both
    // agencies once worked from the same list), then edits that case.
    let mut shared_line = samples.next_case();
    let b_fields = Case::from_json(&shared_line).unwrap().to_fields();
    shared_line["id"] = json!(x.to_string());
    let own_line = samples.next_case();
    assert_eq!(b1.import_jsonl(&format!("{shared_line}\n{own_line}\n")), 2);
    let b_edit: Fields = [("given_name".to_owned(), json!("Edited by B"))].into();
    b1.update_case(&x, b_edit.clone()).unwrap();
    let y: BTreeSet<_> = b1.case_ids().into_iter().filter(|id| *id != x).collect();
    assert_eq!(y.len(), 1);

    let outcome = b1.sync().await.unwrap();
    assert_eq!(
        outcome.rejected, 2,
        "both operations on A's record are refused"
    );

    // B's device keeps both refused operations, whole, with the reason: nothing is lost.
    let rejected = b1.rejected_ops();
    assert_eq!(rejected.len(), 2);
    for (op, reason) in &rejected {
        assert_eq!(op.record_id, x);
        assert_eq!(reason, "Forbidden");
    }
    assert_eq!(values(&rejected[0].0), b_fields);
    assert_eq!(values(&rejected[1].0), b_edit);
    let status = b1.status();
    assert_eq!((status.pending_ops, status.rejected_ops), (0, 2));
    assert!(status.synced, "refused operations are settled, not pending");
    let listed = admin(&server).list_devices().await.unwrap();
    let b1_on_server = listed.iter().find(|d| d.id == b1.device_id()).unwrap();
    assert_eq!(
        b1_on_server.last_seq, 3,
        "refused operations count as processed"
    );

    // A's devices never see B's writes: X is as A recorded it, and B's own case is not there.
    a1.sync().await.unwrap();
    let pulled = a2.sync().await.unwrap().pulled;
    assert_eq!(pulled, 1, "A's log holds only A's operation");
    for a in [&a1, &a2] {
        assert_eq!(a.case_ids(), BTreeSet::from([x]), "{}", a.name);
        assert_eq!(a.case_fields(&x), x_on_a, "{}", a.name);
    }
    // And B's devices never see A's version of X.
    b1.sync().await.unwrap();
    b2.sync().await.unwrap();
    assert_eq!(b2.case_ids(), y, "B's log holds only B's accepted case");
    let mut b_view = b_fields.clone();
    b_view.extend(b_edit);
    assert_eq!(
        b1.case_fields(&x),
        b_view,
        "B keeps its own version, never A's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_wiped_and_its_unsent_work_goes_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["agency_a"]).await;
    let admin = admin(&server);
    let lost_phone = device(&server, dir.path(), "agency_a", "lost").await;
    let idle_phone = device(&server, dir.path(), "agency_a", "idle").await;
    let colleague = device(&server, dir.path(), "agency_a", "colleague").await;
    let mut samples = SampleCases::new(9);

    let synced: BTreeSet<_> = lost_phone
        .create_sample_cases(&mut samples, 5)
        .into_iter()
        .collect();
    lost_phone.sync().await.unwrap();
    idle_phone.sync().await.unwrap();
    // Recorded after the last sync: still in the outbox when the phone is revoked.
    lost_phone.create_sample_cases(&mut samples, 3);
    assert_eq!(lost_phone.status().pending_ops, 3);

    for phone in [&lost_phone, &idle_phone] {
        admin.revoke_device(&phone.device_id()).await.unwrap();
    }
    // With work to push, through the retrying path (a revocation is not retried), and with
    // nothing to push.
    let refused = lost_phone.sync_with_retry(&fast_retry(5)).await;
    assert!(matches!(refused, Err(SyncError::Revoked)), "{refused:?}");
    assert!(matches!(idle_phone.sync().await, Err(SyncError::Revoked)));

    for phone in [&lost_phone, &idle_phone] {
        assert!(matches!(phone.store().status(), Err(StoreError::Wiped)));
        assert_no_files_of(dir.path(), &phone.name);
        // Syncing again cannot bring anything back.
        assert!(matches!(
            phone.sync().await,
            Err(SyncError::Store(StoreError::Wiped))
        ));
        assert_no_files_of(dir.path(), &phone.name);
    }

    // The unsent cases went nowhere; what was synced before stays with the agency.
    colleague.sync().await.unwrap();
    assert_eq!(colleague.case_ids(), synced);
    let listed = admin.list_devices().await.unwrap();
    let on_server = listed
        .iter()
        .find(|d| d.id == lost_phone.device_id())
        .unwrap();
    assert!(on_server.revoked_at.is_some());
    assert_eq!(on_server.last_seq, 5);
}

/// No file of the device's store is left in `dir` (database, WAL, shared memory, journal).
fn assert_no_files_of(dir: &Path, name: &str) {
    let prefix = format!("{name}.");
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|file| file.starts_with(&prefix))
        .collect();
    assert!(
        left.is_empty(),
        "{name}: files left after the wipe: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captive_portal_page_changes_nothing_and_is_retried_only_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["agency_a"]).await;
    let portal = ProxyConfig {
        seed: 1,
        fault_probability: 1.0,
        faults: vec![FaultKind::CaptivePortal],
        link: None,
    };
    let proxy = FaultProxy::start(server.addr(), portal).await.unwrap();
    let url = server.base_url();
    let phone = TestDevice::enroll(
        &admin(&server),
        &url,
        &proxy.base_url(),
        "agency_a",
        dir.path(),
        "phone",
        DeviceOptions::default(),
    )
    .await
    .unwrap();
    let colleague = device(&server, dir.path(), "agency_a", "colleague").await;
    let ids: BTreeSet<_> = phone
        .create_sample_cases(&mut SampleCases::new(2), 10)
        .into_iter()
        .collect();

    let answer = phone.sync_with_retry(&fast_retry(5)).await;
    assert!(matches!(answer, Err(SyncError::BadReply(_))), "{answer:?}");
    // A portal page is what a half-working network looks like: retried, but only as often
    // as the retry policy allows, never in a loop.
    assert_eq!(
        proxy.stats().requests,
        5,
        "one request per attempt of the retry policy"
    );
    let status = phone.status();
    assert_eq!(status.pending_ops, 10, "nothing left the outbox");
    assert!(!status.synced && status.last_error.is_some(), "{status:?}");
    assert_eq!(phone.store().cursor().unwrap(), None);
    assert_eq!(phone.case_ids(), ids);

    // Past the portal, the same work goes through once.
    proxy.reconfigure(ProxyConfig::pass_through());
    assert_eq!(phone.sync().await.unwrap().pushed, 10);
    let status = phone.status();
    assert!(status.synced && status.last_error.is_none(), "{status:?}");
    assert_eq!(colleague.sync().await.unwrap().pulled, 10);
    assert_eq!(colleague.case_ids(), ids);
}
