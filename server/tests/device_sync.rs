//! The device side for real: core's encrypted store and sync client against this server on
//! loopback. Enrollment, two devices of one agency converging, a device of another agency
//! seeing nothing, and a revoked device wiping itself.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store, StoreError};
use fieldcase_core::sync::{enroll, sync_once, SyncClient, SyncError};
use fieldcase_core::AgencyCode;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use std::path::Path;
use std::sync::Mutex;

struct Device {
    store: Mutex<Store>,
    client: SyncClient,
}

async fn enrolled_device(
    server: &RunningServer,
    admin: &AdminClient,
    agency: &str,
    dir: &Path,
    name: &str,
) -> Device {
    let user = admin
        .create_user(agency, Role::Caseworker, name)
        .await
        .unwrap();
    let code = admin.enrollment_code(&user.id, None).await.unwrap();
    let enrolled = enroll(&server.base_url, &code.code, name).await.unwrap();
    let identity = Identity {
        device: enrolled.device_id,
        agency: AgencyCode::parse(agency).unwrap(),
        user: enrolled.user_id,
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let mut store = Store::create(
        &dir.join(format!("{name}.db")),
        "pass phrase",
        None,
        identity,
        &options,
    )
    .unwrap();
    store
        .set_server(&server.base_url, &enrolled.credential)
        .unwrap();
    let client = SyncClient::for_store(&store).unwrap();
    Device {
        store: Mutex::new(store),
        client,
    }
}

async fn sync(device: &Device) -> Result<fieldcase_core::sync::SyncOutcome, SyncError> {
    sync_once(&device.store, &device.client, &|_| {}).await
}

#[tokio::test]
async fn devices_of_one_agency_converge_and_other_agencies_see_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    admin.create_agency("iom_ken", "IOM Kenya").await.unwrap();
    let a = enrolled_device(&server, &admin, "iom_uga", dir.path(), "a").await;
    let b = enrolled_device(&server, &admin, "iom_uga", dir.path(), "b").await;
    let other = enrolled_device(&server, &admin, "iom_ken", dir.path(), "k").await;

    let mut generator = SampleCases::new(5);
    let cases: Vec<_> = (0..30)
        .map(|_| fieldcase_core::model::Case::from_json(&generator.next_case()).unwrap())
        .collect();
    for case in &cases {
        a.store.lock().unwrap().create_case(case).unwrap();
    }
    let pushed = sync(&a).await.unwrap();
    assert_eq!(pushed.pushed, 30);
    assert!(a.store.lock().unwrap().status().unwrap().synced);

    let pulled = sync(&b).await.unwrap();
    assert_eq!(pulled.pulled, 30);
    assert_eq!(b.store.lock().unwrap().count_cases(None).unwrap(), 30);

    sync(&other).await.unwrap();
    assert_eq!(other.store.lock().unwrap().count_cases(None).unwrap(), 0);

    // Nothing new: one request.
    let idle = sync(&b).await.unwrap();
    assert_eq!((idle.requests, idle.pulled, idle.pushed), (1, 0, 0));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_device_is_refused_and_wipes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let a = enrolled_device(&server, &admin, "iom_uga", dir.path(), "a").await;
    sync(&a).await.unwrap();
    let device_id = a.store.lock().unwrap().identity().device.to_string();
    admin.revoke_device(&device_id).await.unwrap();
    assert!(matches!(sync(&a).await, Err(SyncError::Revoked)));
    assert!(matches!(
        a.store.lock().unwrap().status(),
        Err(StoreError::Wiped)
    ));
    assert!(!dir.path().join("a.db").exists());
    server.shutdown().await.unwrap();
}
