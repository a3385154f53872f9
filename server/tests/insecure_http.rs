//! A device refuses to send its enrollment code, credential or case data over plain HTTP to
//! another machine: the attack is a server address an attacker on the network can read
//! (`http://` to a LAN or public address). The address is refused with a typed error before
//! any connection; loopback (`http://127.0.0.1`, where nothing leaves the machine) still works,
//! and so does the explicit opt-out for tests and development.
//!
//! The server listens on every interface, so the same real server is reachable both over
//! loopback and over a non-loopback address of this machine.

mod common;

use common::{caseworker_codes, device_cli, failed, ok, PASSPHRASE};
use fieldcase_core::sync::{
    enroll, enroll_with_options, sync_once, ConnectOptions, ServerUrlError, SyncClient, SyncError,
};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::Mutex;

/// A non-loopback address of this machine: the source address the OS would use to reach a
/// documentation address (RFC 5737). A UDP "connect" only picks a route; nothing is sent.
fn lan_address() -> IpAddr {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("198.51.100.1:9")
        .expect("this test needs a network interface besides loopback");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip
}

/// A real server on every interface, with agency `iom_uga`.
async fn server_on_all_interfaces(dir: &Path) -> (RunningServer, AdminClient, u16) {
    let config = ServerConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], 0)),
        ..ServerConfig::new(dir.join("server"))
    };
    let server = Server::spawn(config).await.unwrap();
    let port = server.addr.port();
    let admin = AdminClient::new(
        &format!("http://127.0.0.1:{port}"),
        server.admin_token().unwrap(),
    )
    .unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    (server, admin, port)
}

fn insecure(error: &SyncError) -> bool {
    matches!(error, SyncError::ServerUrl(ServerUrlError::InsecureHttp))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_sends_nothing_over_plain_http_to_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    let lan = lan_address();
    // A listener no refused client may reach: it must never see a connection.
    let trap = TcpListener::bind((IpAddr::from([0, 0, 0, 0]), 0)).unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!(
        "http://{}",
        SocketAddr::new(lan, trap.local_addr().unwrap().port())
    );

    let error = enroll(&trap_url, "K7QM-4TXP-9WDR", "phone")
        .await
        .unwrap_err();
    assert!(insecure(&error), "{error:?}");
    assert!(!error.is_transient(), "{error:?}");
    let error = SyncClient::new(&trap_url, "a credential".into()).unwrap_err();
    assert!(insecure(&error), "{error:?}");
    let error = SyncClient::new(&format!("http://localhost.{lan}.nip.io"), "c".into()).unwrap_err();
    assert!(
        insecure(&error),
        "a name is not loopback because DNS says so: {error:?}"
    );
    assert_eq!(
        trap.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "a refused address was connected to"
    );

    // The real server: the code refused over the LAN address was not spent, and works over
    // loopback.
    let (_server, admin, port) = server_on_all_interfaces(dir.path()).await;
    let codes = caseworker_codes(&admin, &[("a", "iom_uga")]).await;
    let lan_url = format!("http://{}", SocketAddr::new(lan, port));
    let loopback = format!("http://127.0.0.1:{port}");
    let error = enroll(&lan_url, &codes[0], "phone").await.unwrap_err();
    assert!(insecure(&error), "{error:?}");
    let enrolled = enroll(&loopback, &codes[0], "phone").await.unwrap();

    // A store whose server address is plain http to another machine does not sync…
    let store = common_store(dir.path(), &enrolled, &lan_url);
    let error = SyncClient::for_store(&store).unwrap_err();
    assert!(insecure(&error), "{error:?}");
    // …unless the caller opts out explicitly, which reaches the same server.
    let client = SyncClient::for_store_with(&store, ConnectOptions::allowing_insecure_http())
        .expect("the opt-out allows plain http");
    sync_once(&Mutex::new(store), &client, &|_| {})
        .await
        .expect("the opt-out reaches the server over the LAN address");
    let second = caseworker_codes(&admin, &[("b", "iom_uga")]).await;
    enroll_with_options(
        &lan_url,
        &second[0],
        "phone",
        ConnectOptions::allowing_insecure_http(),
    )
    .await
    .expect("enrollment with the opt-out");
}

/// An unenrolled-looking store for `enrolled`, pointed at `server_url`.
fn common_store(
    dir: &Path,
    enrolled: &fieldcase_core::protocol::EnrollResponse,
    server_url: &str,
) -> fieldcase_core::store::Store {
    use fieldcase_core::crypto::KdfParams;
    use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
    let identity = Identity {
        device: enrolled.device_id,
        agency: enrolled.agency.clone(),
        user: enrolled.user_id.clone(),
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let mut store = Store::create(&dir.join("a.db"), PASSPHRASE, None, identity, &options).unwrap();
    store.set_server(server_url, &enrolled.credential).unwrap();
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_refuses_plain_http_to_another_machine_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, admin, port) = server_on_all_interfaces(dir.path()).await;
    let codes = caseworker_codes(&admin, &[("a", "iom_uga"), ("b", "iom_uga")]).await;
    let lan_url = format!("http://{}", SocketAddr::new(lan_address(), port));
    let loopback = format!("http://127.0.0.1:{port}");
    let devices = dir.path().join("devices");

    let refused = failed(device_cli(
        &devices,
        "a",
        PASSPHRASE,
        &["enroll", "--server", &lan_url, "--code", &codes[0]],
    ));
    let message = refused.to_string();
    assert!(message.contains("plain http"), "{message}");
    assert!(
        !devices.join("a.fieldcase").exists(),
        "no store for a refused enrollment"
    );
    // The code was never sent: it still enrolls over loopback.
    ok(device_cli(
        &devices,
        "a",
        PASSPHRASE,
        &["enroll", "--server", &loopback, "--code", &codes[0]],
    ));
    ok(device_cli(&devices, "a", PASSPHRASE, &["sync"]));

    // The explicit flag allows plain http to another machine, for every command that talks
    // to the server, and only when given.
    ok(device_cli(
        &devices,
        "b",
        PASSPHRASE,
        &[
            "--allow-insecure-http",
            "enroll",
            "--server",
            &lan_url,
            "--code",
            &codes[1],
        ],
    ));
    let refused = failed(device_cli(&devices, "b", PASSPHRASE, &["sync"]));
    assert!(refused.to_string().contains("plain http"), "{refused}");
    ok(device_cli(
        &devices,
        "b",
        PASSPHRASE,
        &["--allow-insecure-http", "sync"],
    ));
}
