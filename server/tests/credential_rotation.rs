//! Device credentials over time, against a real server whose clock the test moves, with core's
//! store and sync client as a phone runs them:
//!
//! - a day after enrollment a sync rotates the credential without the user noticing: the
//!   device stores the new one and uses it from its next request;
//! - a copy of the old credential (a phone backup, a credential read off the phone) works until
//!   the device's next sync and is refused after, as a replaced credential; a forged one is
//!   unknown;
//! - a reply lost in transit loses nothing: the old credential still works and the next sync
//!   rotates again;
//! - a device that does not sync for longer than the lifetime is refused as expired with
//!   everything it holds kept; an admin renews it and it syncs again.

mod common;

use common::PASSPHRASE;
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::Case;
use fieldcase_core::protocol::{
    decode_reply, encode_body, ErrorBody, ErrorCode, StoreReport, SyncRequest, SyncResponse,
    CONTENT_TYPE, PROTOCOL_VERSION,
};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient, SyncError};
use fieldcase_core::AgencyCode;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::service::credentials::CredentialPolicy;
use fieldcase_server::time::ManualTimeSource;
use fieldcase_server::{Server, ServerConfig};
use std::sync::{Arc, Mutex};

const DAY_MS: u64 = 86_400_000;
const LIFETIME_DAYS: u32 = 30;

/// A raw sync request with `credential`: the status, and the reply or error body.
async fn raw_sync(url: &str, credential: &str) -> (u16, Result<SyncResponse, ErrorBody>) {
    raw_sync_with(url, credential, None).await
}

/// [`raw_sync`] reporting a store counter, as a copy of the whole store would.
async fn raw_sync_with(
    url: &str,
    credential: &str,
    store: Option<StoreReport>,
) -> (u16, Result<SyncResponse, ErrorBody>) {
    let request = SyncRequest {
        protocol: PROTOCOL_VERSION,
        ops: vec![],
        cursor: None,
        pull_limit: Some(1),
        commands: vec![],
        store,
        handoff: None,
    };
    let reply = reqwest::Client::new()
        .post(format!("{url}/v1/sync"))
        .bearer_auth(credential)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(encode_body(&request))
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let body = reply.bytes().await.unwrap();
    if status == 200 {
        (status, Ok(decode_reply(&body).unwrap()))
    } else {
        (status, Err(serde_json::from_slice(&body).unwrap()))
    }
}

fn credential_of(store: &Mutex<Store>) -> String {
    store.lock().unwrap().server().unwrap().unwrap().1
}

/// A real server on a clock the test moves, and one enrolled phone with a store.
struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualTimeSource>,
    url: String,
    admin: AdminClient,
    store: Mutex<Store>,
    cases: SampleCases,
    _server: fieldcase_server::RunningServer,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualTimeSource::new(1_780_000_000_000));
        let server = Server::spawn(ServerConfig {
            time: clock.clone(),
            // Shorter than the admin token's 90 days, so the admin can still renew.
            credential_policy: CredentialPolicy::days(LIFETIME_DAYS),
            ..ServerConfig::new(dir.path().join("server"))
        })
        .await
        .unwrap();
        let url = server.base_url.clone();
        let admin = AdminClient::new(&url, server.admin_token().unwrap()).unwrap();
        admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
        let user = admin
            .create_user("iom_uga", Role::Caseworker, "Amina")
            .await
            .unwrap();
        let code = admin.enrollment_code(&user.id, None).await.unwrap();
        let enrolled = enroll(&url, &code.code, "phone").await.unwrap();
        let options = OpenOptions {
            kdf: KdfParams::insecure_fast_for_tests(),
            durability: Durability::Normal,
        };
        let identity = Identity {
            device: enrolled.device_id,
            agency: AgencyCode::parse("iom_uga").unwrap(),
            user: enrolled.user_id.clone(),
        };
        let path = dir.path().join("phone.db");
        let mut store = Store::create(&path, PASSPHRASE, None, identity, &options).unwrap();
        store.set_server(&url, &enrolled.credential).unwrap();
        World {
            _dir: dir,
            clock,
            url,
            admin,
            store: Mutex::new(store),
            cases: SampleCases::new(3),
            _server: server,
        }
    }

    fn add_case(&mut self) {
        let case = Case::from_json(&self.cases.next_case()).unwrap();
        self.store.lock().unwrap().create_case(&case).unwrap();
    }

    /// One sync of the phone, as the app runs it.
    async fn sync(&self) -> Result<fieldcase_core::sync::SyncOutcome, SyncError> {
        let client = SyncClient::for_store(&self.store.lock().unwrap()).unwrap();
        sync_once(&self.store, &client, &|_| {}).await
    }

    fn credential(&self) -> String {
        credential_of(&self.store)
    }

    /// Moves past the rotation age and syncs: the phone then holds a new credential.
    async fn rotate(&mut self) -> (String, String) {
        let before = self.credential();
        self.clock.advance_ms(DAY_MS + 1);
        self.add_case();
        assert_eq!(self.sync().await.unwrap().pushed, 1);
        let after = self.credential();
        assert_ne!(after, before, "a day on, the sync rotated the credential");
        (before, after)
    }
}

fn error_code(reply: (u16, Result<SyncResponse, ErrorBody>)) -> (u16, ErrorCode) {
    match reply {
        (status, Err(body)) => (status, body.error),
        (status, Ok(_)) => panic!("refused expected, got {status}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_credential_replaces_the_old_one_at_the_next_sync() {
    let mut world = World::new().await;
    world.add_case();
    world.sync().await.unwrap();
    let enrolled = world.credential();
    let (old, new) = world.rotate().await;
    assert_eq!(old, enrolled);

    // The device's next sync uses the new credential: from then on the old one is a copy.
    world.add_case();
    assert_eq!(world.sync().await.unwrap().pushed, 1);
    assert_eq!(
        world.credential(),
        new,
        "no second rotation right after one"
    );
    assert_eq!(
        error_code(raw_sync(&world.url, &old).await),
        (401, ErrorCode::CredentialReplaced)
    );
    // A forged credential is unknown, told apart from a copy.
    assert_eq!(
        error_code(raw_sync(&world.url, "forged-credential-of-43-characters-xxxxxx").await),
        (401, ErrorCode::Unauthorized)
    );
    world.add_case();
    assert_eq!(world.sync().await.unwrap().pushed, 1, "the device goes on");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_rotation_reply_loses_nothing() {
    let mut world = World::new().await;
    world.clock.advance_ms(DAY_MS + 1);
    let current = world.credential();
    // The server rotates, but the reply never reaches the phone.
    let (status, lost) = raw_sync(&world.url, &current).await;
    assert_eq!(status, 200);
    assert!(lost.unwrap().next_credential.is_some());
    assert_eq!(world.credential(), current);

    // The phone's credential still works; this sync rotates again.
    world.add_case();
    assert_eq!(world.sync().await.unwrap().pushed, 1);
    let rotated = world.credential();
    assert_ne!(rotated, current);
    world.add_case();
    assert_eq!(world.sync().await.unwrap().pushed, 1);
    assert_eq!(
        error_code(raw_sync(&world.url, &current).await),
        (401, ErrorCode::CredentialReplaced)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_used_before_the_device_syncs_again_is_detected_not_silent() {
    let mut world = World::new().await;
    let (old, _) = world.rotate().await;
    // Someone holding a copy of the phone's store (its old credential, and a rollback counter
    // ahead of the phone's) syncs before the phone does: the server cannot tell them from a
    // phone whose reply was lost, and gives them a newer credential.
    let ahead = StoreReport {
        counter: 1_000_000,
        guard_tampered: false,
    };
    let (status, copy) = raw_sync_with(&world.url, &old, Some(ahead)).await;
    assert_eq!(status, 200);
    let copy_credential = copy.unwrap().next_credential.expect("rotated again").0;

    // The phone's credential was superseded: two holders exist, and the phone says so.
    world.add_case();
    let error = world.sync().await.unwrap_err();
    assert!(matches!(error, SyncError::CredentialReplaced), "{error}");
    // The admin revokes the device: the copy's credential dies with it.
    let device_id = world.store.lock().unwrap().identity().device.to_string();
    world.admin.revoke_device(&device_id).await.unwrap();
    assert_eq!(
        error_code(raw_sync(&world.url, &copy_credential).await),
        (403, ErrorCode::DeviceRevoked)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_device_keeps_its_work_and_syncs_once_renewed() {
    let mut world = World::new().await;
    world.add_case();
    world.sync().await.unwrap();
    // A month without a network.
    world
        .clock
        .advance_ms(u64::from(LIFETIME_DAYS) * DAY_MS + 1);
    world.add_case();
    world.add_case();
    let error = world.sync().await.unwrap_err();
    assert!(matches!(error, SyncError::CredentialExpired), "{error}");
    assert!(!error.is_transient());
    assert_eq!(
        world.store.lock().unwrap().pending_work().unwrap().0,
        2,
        "nothing lost"
    );

    let device_id = world.store.lock().unwrap().identity().device.to_string();
    let renewed: serde_json::Value = world
        .admin
        .call(
            reqwest::Method::POST,
            &format!("/v1/admin/devices/{device_id}/renew"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(renewed["id"], device_id.as_str());
    let outcome = world.sync().await.unwrap();
    assert_eq!(outcome.pushed, 2);
}
