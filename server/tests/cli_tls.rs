//! TLS from the command line, as an operator and a caseworker meet it: `fieldcase serve
//! --tls-cert --tls-key` (the real binary) prints its HTTPS address and key pin; `admin
//! --server-pin` reaches it while a client without the pin is refused; `enroll-code` prints the
//! enrollment payload a QR code carries; `device enroll --code <payload>` needs nothing else,
//! and the device then syncs over TLS pinned to that key.

mod common;

use common::{ok, BIN, PASSPHRASE};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Kills the server when the test ends, passed or not.
struct ServeProcess(Child);

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, certificate.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Starts `fieldcase serve` with TLS; its URL and printed pin.
fn serve_tls(dir: &Path) -> (ServeProcess, String, String) {
    let (cert, key) = write_certificate(dir);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_remove("FIELDCASE_SERVER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let process = ServeProcess(child);
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{first}");
    let pin = second
        .strip_prefix("TLS certificate key pin: ")
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();
    assert!(pin.starts_with("sha256/"), "{pin}");
    std::thread::spawn(move || for _ in lines {});
    (process, url, pin)
}

fn admin(url: &str, token: &str, pin: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(["--json", "admin", "--server", url]);
    if let Some(pin) = pin {
        command.args(["--server-pin", pin]);
    }
    command
        .args(args)
        .env("FIELDCASE_ADMIN_TOKEN", token)
        .env_remove("FIELDCASE_ADMIN_TOKEN_FILE")
        .env_remove("FIELDCASE_SERVER_PIN")
        .output()
        .unwrap()
}

fn device(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--json", "device", "--dir"])
        .arg(dir)
        .args(["--profile", "amina"])
        .args(args)
        .env("FIELDCASE_PASSPHRASE", PASSPHRASE)
        .env_remove("FIELDCASE_SERVER")
        .env_remove("FIELDCASE_SERVER_PIN")
        .env_remove("FIELDCASE_DEVICE_DIR")
        .env_remove("FIELDCASE_PROFILE")
        .output()
        .unwrap()
}

#[test]
fn an_enrollment_payload_carries_the_server_and_its_pin_to_a_device_that_then_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url, pin) = serve_tls(dir.path());
    let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
    let token = token.trim();

    // Without the pin, the self-signed certificate is refused and says why.
    let refused = admin(&url, token, None, &["agency", "list"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("certificate"), "{message}");

    let pinned = |args: &[&str]| ok(admin(&url, token, Some(&pin), args));
    pinned(&["agency", "add", "iom_uga", "--name", "IOM Uganda"]);
    let user = pinned(&[
        "user",
        "add",
        "--agency",
        "iom_uga",
        "--role",
        "caseworker",
        "--name",
        "Amina",
    ]);
    let code = pinned(&["enroll-code", "--user", user["id"].as_str().unwrap()]);
    let payload = code["enrollment_payload"].as_str().unwrap().to_owned();
    assert!(payload.starts_with("fieldcase-enroll:v1?"), "{payload}");
    let parsed = fieldcase_core::sync::EnrollmentPayload::parse(&payload).unwrap();
    assert_eq!(parsed.server, url);
    assert_eq!(parsed.code, code["code"].as_str().unwrap());
    assert_eq!(
        parsed
            .pins
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        vec![pin.clone()]
    );

    // The payload alone enrolls: no --server, no --server-pin.
    let devices = dir.path().join("devices");
    let enrolled = ok(device(&devices, &["enroll", "--code", &payload]));
    assert_eq!(enrolled["agency"], "iom_uga");
    let case = json!({
        "given_name": "Selamawit", "family_name": "Gebremariam", "date_of_birth": "1990",
        "sex": "female", "nationality": "ETH", "country_of_assistance": "UGA",
        "intake_date": "2026-09-14", "categories": ["victim_of_trafficking"], "programme": "direct_assistance",
        "exploitation_types": ["domestic_servitude"], "trafficking_type": "international",
        "consent": {"assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"}, "data_sharing": "none"}
    });
    let case_path = dir.path().join("case.json");
    std::fs::write(&case_path, case.to_string()).unwrap();
    ok(device(
        &devices,
        &["add", "--file", case_path.to_str().unwrap()],
    ));
    let synced: Value = ok(device(&devices, &["sync"]));
    assert_eq!(synced["pushed"], 1, "{synced}");
}
