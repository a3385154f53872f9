//! Enrollment from a QR payload through the facade, against a real server serving TLS with a
//! self-signed certificate: the payload alone (server, code, key pin) enrolls the phone, which
//! then syncs pinned to that key; a payload whose pin is another key's is refused before the
//! code is spent.

use fieldcase_core::sync::{EnrollmentPayload, Pin};
mod common;

use fieldcase_ffi::*;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::tls::TlsFiles;
use fieldcase_server::{Server, ServerConfig};
use std::path::Path;

const PASSPHRASE: &str = "correct horse battery";

fn certificate(dir: &Path, name: &str) -> (TlsFiles, Pin) {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let files = TlsFiles {
        certificate: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.certificate, certificate.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (files, Pin::of_certificate(certificate.der()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_payload_enrolls_a_phone_that_then_syncs_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pin) = certificate(dir.path(), "server");
    let (_, other_pin) = certificate(dir.path(), "other");
    let server = Server::spawn(ServerConfig {
        tls: Some(files),
        ..ServerConfig::new(dir.path().join("server"))
    })
    .await
    .unwrap();
    let admin =
        AdminClient::pinned(&server.base_url, server.admin_token().unwrap(), &[pin]).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let user = admin
        .create_user("iom_uga", Role::Caseworker, "Amina")
        .await
        .unwrap();
    let code = admin.enrollment_code(&user.id, None).await.unwrap();
    let payload = |pins: Vec<Pin>| {
        EnrollmentPayload {
            server: server.base_url.clone(),
            code: code.code.clone(),
            pins,
        }
        .to_text()
    };
    let store_path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    let Err(refused) = enroll_with_insecure_fast_kdf(
        String::new(),
        payload(vec![other_pin]),
        "phone".into(),
        store_path("refused.db"),
        PASSPHRASE.into(),
        None,
    )
    .await
    else {
        panic!("another key's pin is refused");
    };
    assert!(
        matches!(refused, FieldcaseError::Network { .. }),
        "{refused:?}"
    );

    let phone = enroll_with_insecure_fast_kdf(
        String::new(),
        payload(vec![pin]),
        "phone".into(),
        store_path("phone.db"),
        PASSPHRASE.into(),
        None,
    )
    .await
    .unwrap();
    phone.create_case(common::case("Amina")).unwrap();
    let outcome = phone.clone().sync(None).await.unwrap();
    assert_eq!((outcome.pushed, outcome.rejected), (1, 0));
}
