//! The server serving TLS, and devices trusting only the key they were enrolled with: a real
//! server on loopback with certificates made here (rcgen), core's sync client and store.
//!
//! - a device enrolled with the server's pin enrolls, stores the pin and syncs;
//! - a device without the pin refuses the self-signed server before sending its code (which
//!   stays usable), and a device pinned to one key refuses a server with another (an attacker
//!   holding a certificate for the same name);
//! - the server reloads a renewed certificate without a restart, and keeps the old one when
//!   the renewal is broken;
//! - a client offering only TLS 1.0 or 1.1 gets a protocol alert, no session.

mod common;

use common::PASSPHRASE;
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::sync::{enroll_pinned, sync_once, ConnectOptions, Pin, SyncClient, SyncError};
use fieldcase_core::AgencyCode;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::tls::TlsFiles;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for the loopback server, written as PEM files; its key's pin.
fn write_certificate(dir: &Path, name: &str) -> (TlsFiles, Pin) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let files = TlsFiles {
        certificate: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.certificate, certificate.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (files, Pin::of_certificate(certificate.der()).unwrap())
}

async fn tls_server(dir: &Path, files: TlsFiles) -> (RunningServer, AdminClient, Pin) {
    let config = ServerConfig {
        tls: Some(files.clone()),
        tls_reload_interval: Duration::from_millis(100),
        ..ServerConfig::new(dir.join("server"))
    };
    let server = Server::spawn(config).await.unwrap();
    assert!(
        server.base_url.starts_with("https://"),
        "{}",
        server.base_url
    );
    let pem = std::fs::read(&files.certificate).unwrap();
    let der = rustls_pemfile_der(&pem);
    let pin = Pin::of_certificate(&der).unwrap();
    let admin =
        AdminClient::pinned(&server.base_url, server.admin_token().unwrap(), &[pin]).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    (server, admin, pin)
}

fn rustls_pemfile_der(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem)
        .unwrap()
        .to_vec()
}

async fn new_code(admin: &AdminClient, name: &str) -> fieldcase_server::api::EnrollmentCodeBody {
    let user = admin
        .create_user("iom_uga", Role::Caseworker, name)
        .await
        .unwrap();
    admin.enrollment_code(&user.id, None).await.unwrap()
}

fn is_certificate_refusal(error: &SyncError) -> bool {
    matches!(error, SyncError::Network(message) if message.contains("certificate"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_enrolled_with_the_pin_syncs_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pin) = write_certificate(dir.path(), "server");
    let (server, admin, served_pin) = tls_server(dir.path(), files).await;
    assert_eq!(served_pin, pin);

    let code = new_code(&admin, "amina").await;
    assert_eq!(
        code.pins,
        vec![pin.to_string()],
        "the code carries the key pin"
    );
    let enrolled = enroll_pinned(
        &server.base_url,
        &code.code,
        "phone",
        ConnectOptions::default(),
        &[pin],
    )
    .await
    .unwrap();
    let identity = Identity {
        device: enrolled.device_id,
        agency: AgencyCode::parse("iom_uga").unwrap(),
        user: enrolled.user_id,
    };
    let options = OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Normal,
    };
    let path = dir.path().join("phone.db");
    let mut store = Store::create(&path, PASSPHRASE, None, identity, &options).unwrap();
    store
        .set_server_pinned(&server.base_url, &enrolled.credential, &[pin])
        .unwrap();
    let mut generator = SampleCases::new(7);
    store
        .create_case(&Case::from_json(&generator.next_case()).unwrap())
        .unwrap();
    // The pin survives closing the store, and a credential rotation keeps it.
    store.close().unwrap();
    let mut store = Store::open(&path, PASSPHRASE, None, &options).unwrap();
    assert_eq!(store.server_pins().unwrap(), vec![pin]);
    store
        .set_server(&server.base_url, &enrolled.credential)
        .unwrap();
    assert_eq!(store.server_pins().unwrap(), vec![pin]);

    let client = SyncClient::for_store(&store).unwrap();
    let store = Mutex::new(store);
    let outcome = sync_once(&store, &client, &|_| {}).await.unwrap();
    assert_eq!(outcome.pushed, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_without_the_pin_refuses_a_self_signed_server_and_keeps_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pin) = write_certificate(dir.path(), "server");
    let (server, admin, _) = tls_server(dir.path(), files).await;
    let code = new_code(&admin, "amina").await;

    let refused = enroll_pinned(
        &server.base_url,
        &code.code,
        "phone",
        ConnectOptions::default(),
        &[],
    )
    .await
    .unwrap_err();
    assert!(is_certificate_refusal(&refused), "{refused}");
    // Nothing was sent: the code still enrolls a device that holds the pin.
    enroll_pinned(
        &server.base_url,
        &code.code,
        "phone",
        ConnectOptions::default(),
        &[pin],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_pinned_to_one_key_refuses_a_server_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pin) = write_certificate(dir.path(), "real");
    let (_real, real_admin, _) = tls_server(&dir.path().join("real"), files).await;
    // An attacker's server: a valid certificate for the same name, another key.
    let (attacker_files, attacker_pin) = write_certificate(dir.path(), "attacker");
    assert_ne!(pin, attacker_pin);
    let (attacker, attacker_admin, _) =
        tls_server(&dir.path().join("attacker"), attacker_files).await;

    let code = new_code(&attacker_admin, "amina").await;
    let refused = enroll_pinned(
        &attacker.base_url,
        &code.code,
        "phone",
        ConnectOptions::default(),
        &[pin],
    )
    .await
    .unwrap_err();
    assert!(is_certificate_refusal(&refused), "{refused}");
    // An admin client pinned to the real key refuses the attacker too.
    let misdirected =
        AdminClient::pinned(&attacker.base_url, _real.admin_token().unwrap(), &[pin]).unwrap();
    let error = misdirected.list_devices().await.unwrap_err();
    real_admin.list_devices().await.unwrap();
    assert!(format!("{error:#}").contains("certificate"), "{error:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (files, old_pin) = write_certificate(dir.path(), "server");
    let (server, _admin, _) = tls_server(dir.path(), files.clone()).await;
    let token = server.admin_token().unwrap();

    // A broken renewal (a key that is not a key): the old certificate is still served.
    std::fs::write(
        &files.key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let old = AdminClient::pinned(&server.base_url, token.clone(), &[old_pin]).unwrap();
    old.list_devices().await.unwrap();

    // A real renewal with a new key, written over the same files.
    let (renewed, new_pin) = write_certificate(&dir.path().join(""), "renewed");
    std::fs::copy(&renewed.certificate, &files.certificate).unwrap();
    std::fs::copy(&renewed.key, &files.key).unwrap();
    let new = AdminClient::pinned(&server.base_url, token.clone(), &[new_pin]).unwrap();
    let mut served = false;
    for _ in 0..100 {
        if new.list_devices().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the renewed certificate was never served");
    let stale = AdminClient::pinned(&server.base_url, token, &[old_pin]).unwrap();
    assert!(stale.list_devices().await.is_err());
}

/// A TLS record carrying a ClientHello that offers only `version` (0x0301 TLS 1.0, 0x0302
/// TLS 1.1) and cipher suites of that era, no extensions.
fn legacy_client_hello(version: u16) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&version.to_be_bytes());
    hello.extend_from_slice(&[7; 32]); // random
    hello.push(0); // no session id
    let suites: [u16; 3] = [0x002f, 0x0035, 0xc013];
    hello.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        hello.extend_from_slice(&suite.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null only
    let mut handshake = vec![1]; // ClientHello
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_below_tls_1_2_gets_an_alert_and_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = write_certificate(dir.path(), "server");
    let (server, _, _) = tls_server(dir.path(), files).await;
    for version in [0x0301u16, 0x0302] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(&legacy_client_hello(version))
            .await
            .unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
            .await
            .expect("the server closes the connection")
            .ok();
        assert!(!reply.is_empty(), "TLS {version:#06x}: no answer at all");
        assert_eq!(
            reply[0], 0x15,
            "TLS {version:#06x}: an alert record, not a ServerHello"
        );
        // The alert's description: protocol_version (70) or handshake_failure (40).
        let description = *reply.get(6).expect("a whole alert");
        assert!(
            description == 70 || description == 40,
            "TLS {version:#06x}: alert {description}"
        );
    }
}
