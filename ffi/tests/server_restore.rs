//! A real server restored from an older backup, seen through the facade: the phone's next
//! sync is one the server can never accept (core's `ServerBehind`), and the app must be told
//! it is permanent, or it would retry forever what only an administrator can fix.
//!
//! The server side is produced as in `tests/tests/server_restore.rs`: the server is stopped,
//! its data directory copied, more work synced, and the copy put back.

mod common;

use fieldcase_ffi::*;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery";
const AGENCY: &str = "iom_uga";
/// Attempts to bind the old port again after a stop before giving up.
const REBIND_ATTEMPTS: u32 = 50;

/// Copies every file of `from` into `to` (created if missing). Data directories are flat.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Starts a server on `data_dir` at `addr` (port 0: the OS chooses), retrying the bind
/// briefly when the port was just released.
async fn start(data_dir: &Path, addr: SocketAddr) -> RunningServer {
    let mut last = None;
    for _ in 0..REBIND_ATTEMPTS {
        let config = ServerConfig {
            listen: addr,
            ..ServerConfig::new(data_dir)
        };
        match Server::spawn(config).await {
            Ok(server) => return server,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not start again: {last:?}");
}

fn create(store: &FieldcaseStore, count: usize) {
    for i in 0..count {
        store
            .create_case(common::case(&format!("Person{i}")))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_older_backup_is_a_permanent_error_for_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    let server = start(&data_dir, SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let addr = server.addr;
    let url = server.base_url.clone();
    let admin = AdminClient::new(&url, server.admin_token().unwrap()).unwrap();
    admin.create_agency(AGENCY, "IOM Uganda").await.unwrap();
    let user = admin
        .create_user(AGENCY, Role::Caseworker, "cw")
        .await
        .unwrap();
    let code = admin.enrollment_code(&user.id, None).await.unwrap().code;
    let phone: Arc<FieldcaseStore> = enroll_with_insecure_fast_kdf(
        url,
        code,
        "phone".into(),
        dir.path().join("phone.db").to_string_lossy().into_owned(),
        PASSPHRASE.into(),
        None,
    )
    .await
    .unwrap();

    create(&phone, 3);
    Arc::clone(&phone).sync(None).await.unwrap();
    server.shutdown().await.unwrap();
    let backup = dir.path().join("backup");
    copy_dir(&data_dir, &backup);
    let server = start(&data_dir, addr).await;
    // Acknowledged, so they leave the phone's outbox; the restore then takes them away.
    create(&phone, 3);
    Arc::clone(&phone).sync(None).await.unwrap();
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&data_dir).unwrap();
    copy_dir(&backup, &data_dir);
    let _server = start(&data_dir, addr).await;

    create(&phone, 1);
    let error = Arc::clone(&phone).sync(None).await.unwrap_err();
    assert!(
        matches!(error, FieldcaseError::Refused { .. }),
        "a server behind the phone is refused work a person must sort out: {error:?}"
    );
    assert!(
        !error.is_transient(),
        "retrying cannot bring back what the restore lost: {error:?}"
    );
    assert!(
        error.to_string().contains("restored from a backup"),
        "{error}"
    );
    // The retrying sync gives up at once rather than spending its attempts.
    let again = Arc::clone(&phone)
        .sync_with_retry(3, None)
        .await
        .unwrap_err();
    assert!(!again.is_transient(), "{again:?}");
    assert_eq!(
        phone.status().unwrap().pending_changes,
        1,
        "nothing is dropped"
    );
}
