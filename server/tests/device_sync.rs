//! The device side for real: core's encrypted store and sync client against this server on
//! loopback. Enrollment, two devices of one agency converging, a device of another agency
//! seeing nothing, and a revoked device wiping itself.

mod common;

use common::{enrolled_device, server_with_agencies};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::StoreError;
use fieldcase_core::sync::SyncError;

#[tokio::test]
async fn devices_of_one_agency_converge_and_other_agencies_see_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = [("iom_uga", "IOM Uganda"), ("iom_ken", "IOM Kenya")];
    let (server, admin) = server_with_agencies(dir.path(), &agencies).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "b").await;
    let other = enrolled_device(&server.base_url, &admin, "iom_ken", dir.path(), "k").await;

    let mut generator = SampleCases::new(5);
    let cases: Vec<_> = (0..30)
        .map(|_| fieldcase_core::model::Case::from_json(&generator.next_case()).unwrap())
        .collect();
    for case in &cases {
        a.store.lock().unwrap().create_case(case).unwrap();
    }
    let pushed = a.sync().await.unwrap();
    assert_eq!(pushed.pushed, 30);
    assert!(a.store.lock().unwrap().status().unwrap().synced);

    let pulled = b.sync().await.unwrap();
    assert_eq!(pulled.pulled, 30);
    assert_eq!(b.store.lock().unwrap().count_cases(None).unwrap(), 30);

    other.sync().await.unwrap();
    assert_eq!(other.store.lock().unwrap().count_cases(None).unwrap(), 0);

    // Nothing new: one request.
    let idle = b.sync().await.unwrap();
    assert_eq!((idle.requests, idle.pulled, idle.pushed), (1, 0, 0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_device_is_refused_and_wipes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    a.sync().await.unwrap();
    let device_id = a.store.lock().unwrap().identity().device.to_string();
    admin.revoke_device(&device_id).await.unwrap();
    assert!(matches!(a.sync().await, Err(SyncError::Revoked)));
    assert!(matches!(
        a.store.lock().unwrap().status(),
        Err(StoreError::Wiped)
    ));
    assert!(!dir.path().join("a.db").exists());
    server.shutdown().await.unwrap();
}
