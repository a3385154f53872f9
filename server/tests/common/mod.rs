//! What the server's integration tests share: field devices (core's encrypted store and sync
//! client) enrolled with a real server on loopback, and the real `fieldcase` binary run as a
//! command. Each test binary uses its own part of it.
#![allow(dead_code)]

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll, sync_once, SyncClient, SyncError, SyncOutcome};
use fieldcase_core::{AgencyCode, DeviceId};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The `fieldcase` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");
/// The passphrase of every test store (the cheap test KDF makes it fast to open).
pub const PASSPHRASE: &str = "a long enough test passphrase";

/// An enrolled device: its store, its sync client and what enrollment gave it.
pub struct Device {
    pub store: Mutex<Store>,
    pub client: SyncClient,
    pub path: PathBuf,
    pub credential: String,
    pub device_id: DeviceId,
}

impl Device {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One sync, without retries.
    pub async fn sync(&self) -> Result<SyncOutcome, SyncError> {
        sync_once(&self.store, &self.client, &|_| {}).await
    }
}

/// A server on loopback with its data in `dir/server`, an admin client holding the first
/// admin token, and the `(code, name)` agencies created.
pub async fn server_with_agencies(
    dir: &Path,
    agencies: &[(&str, &str)],
) -> (RunningServer, AdminClient) {
    let server = Server::spawn(ServerConfig::new(dir.join("server")))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    for (code, name) in agencies {
        admin.create_agency(code, name).await.unwrap();
    }
    (server, admin)
}

/// One-time enrollment codes for new caseworkers, given as `(name, agency)`, in order.
pub async fn caseworker_codes(admin: &AdminClient, people: &[(&str, &str)]) -> Vec<String> {
    let mut codes = Vec::new();
    for (name, agency) in people {
        let user = admin
            .create_user(agency, Role::Caseworker, name)
            .await
            .unwrap();
        codes.push(admin.enrollment_code(&user.id, None).await.unwrap().code);
    }
    codes
}

/// Creates a caseworker `name` of `agency`, enrolls a device for them with a one-time code and
/// creates its store at `dir/<name>.db`.
pub async fn enrolled_device(
    server_url: &str,
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
    let enrolled = enroll(server_url, &code.code, name).await.unwrap();
    let identity = Identity {
        device: enrolled.device_id,
        agency: AgencyCode::parse(agency).unwrap(),
        user: enrolled.user_id,
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let path = dir.join(format!("{name}.db"));
    let mut store = Store::create(&path, PASSPHRASE, None, identity, &options).unwrap();
    store.set_server(server_url, &enrolled.credential).unwrap();
    let client = SyncClient::for_store(&store).unwrap();
    Device {
        store: Mutex::new(store),
        client,
        path,
        credential: enrolled.credential,
        device_id: enrolled.device_id,
    }
}

/// `fieldcase --json device --dir DIR --profile PROFILE ARGS…`, the passphrase given the way
/// a script gives it (the environment), nothing inherited from the caller's environment.
pub fn device_cli(dir: &Path, profile: &str, passphrase: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--json", "device", "--dir"])
        .arg(dir)
        .args(["--profile", profile])
        .args(args)
        .env("FIELDCASE_PASSPHRASE", passphrase)
        .env_remove("FIELDCASE_DEVICE_DIR")
        .env_remove("FIELDCASE_PROFILE")
        .output()
        .unwrap()
}

/// `fieldcase --json admin --server URL ARGS…` with `token`.
pub fn admin_cli(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--json", "admin", "--server", url])
        .args(args)
        .env("FIELDCASE_ADMIN_TOKEN", token)
        .env_remove("FIELDCASE_ADMIN_TOKEN_FILE")
        .output()
        .unwrap()
}

/// The JSON a command printed, after checking it succeeded.
pub fn ok(output: Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The error a command printed (JSON with `--json`), after checking it failed.
pub fn failed(output: Output) -> Value {
    assert!(!output.status.success(), "command should have failed");
    serde_json::from_slice(&output.stderr).unwrap()
}
