//! The `fieldcase device …` and `fieldcase demo` commands, run as the real binary against a
//! real server on loopback, with real encrypted stores in a temporary directory.

use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");
const PASSPHRASE: &str = "a long enough test passphrase";

fn device(dir: &Path, profile: &str, passphrase: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--json")
        .arg("device")
        .arg("--dir")
        .arg(dir)
        .args(["--profile", profile])
        .args(args)
        .env("FIELDCASE_PASSPHRASE", passphrase)
        .env_remove("FIELDCASE_DEVICE_DIR")
        .env_remove("FIELDCASE_PROFILE")
        .output()
        .unwrap()
}

fn ok(output: Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn failed(output: Output) -> Value {
    assert!(!output.status.success(), "command should have failed");
    serde_json::from_slice(&output.stderr).unwrap()
}

fn case_file(dir: &Path, nationality: &str) -> std::path::PathBuf {
    let case = json!({
        "given_name": "Selamawit", "family_name": "Gebremariam", "date_of_birth": "1990",
        "sex": "female", "nationality": nationality, "country_of_assistance": "UGA",
        "intake_date": "2026-09-14", "categories": ["victim_of_trafficking"], "programme": "direct_assistance",
        "exploitation_types": ["domestic_servitude"], "trafficking_type": "international",
        "consent": {"assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"}, "data_sharing": "none"}
    });
    let path = dir.join(format!("case-{nationality}.json"));
    std::fs::write(&path, case.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caseworker_records_searches_corrects_and_syncs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    admin.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let mut codes = Vec::new();
    for name in ["alice", "bob"] {
        let user = admin
            .create_user("iom_uga", Role::Caseworker, name)
            .await
            .unwrap();
        codes.push(admin.enrollment_code(&user.id, None).await.unwrap().code);
    }
    let devices = dir.path().join("devices");
    let (url, alice_code, bob_code) = (server.base_url.clone(), codes[0].clone(), codes[1].clone());
    let devices_for_cli = devices.clone();
    let work = tokio::task::spawn_blocking(move || {
        let d = devices_for_cli.as_path();
        let enrolled = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["enroll", "--server", &url, "--code", &alice_code],
        ));
        assert_eq!(enrolled["agency"], "iom_uga");
        // The code works once.
        failed(device(
            d,
            "carol",
            PASSPHRASE,
            &["enroll", "--server", &url, "--code", &alice_code],
        ));

        let file = case_file(d, "ETH");
        let added = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["add", "--file", file.to_str().unwrap()],
        ));
        let id = added["id"].as_str().unwrap().to_owned();
        let listed = ok(device(d, "alice", PASSPHRASE, &["list"]));
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let found = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["search", "--name", "selamawit gebremariam"],
        ));
        assert_eq!(found[0]["id"], id.as_str());
        let changed = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &[
                "update",
                &id,
                "--set",
                "risk_level=high",
                "--set",
                "status=active",
            ],
        ));
        assert_eq!(changed["changed"], json!(["risk_level", "status"]));
        ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["service", &id, "--type", "shelter", "--date", "2026-09-15"],
        ));
        let shown = ok(device(d, "alice", PASSPHRASE, &["show", &id]));
        assert_eq!(shown["case"]["risk_level"], "high");
        assert_eq!(shown["services"].as_array().unwrap().len(), 1);

        // Bad input: a typed error naming the field, without the value; nothing written.
        let bad = failed(device(
            d,
            "alice",
            PASSPHRASE,
            &["add", "--file", case_file(d, "Atlantis").to_str().unwrap()],
        ));
        let message = bad["message"].as_str().unwrap();
        assert!(
            message.contains("nationality") && !message.contains("Atlantis"),
            "{message}"
        );
        let wrong = failed(device(d, "alice", "not the passphrase", &["status"]));
        assert!(wrong["message"]
            .as_str()
            .unwrap()
            .contains("wrong passphrase"));

        let before = ok(device(d, "alice", PASSPHRASE, &["status"]));
        assert_eq!(
            (before["pending_ops"].as_u64(), before["synced"].as_bool()),
            (Some(3), Some(false))
        );

        // A second user on the same machine: their own store; alice's unsynced work untouched.
        ok(device(
            d,
            "bob",
            PASSPHRASE,
            &["enroll", "--server", &url, "--code", &bob_code],
        ));
        ok(device(d, "bob", PASSPHRASE, &["sync"]));
        assert_eq!(
            ok(device(d, "alice", PASSPHRASE, &["status"]))["pending_ops"],
            3
        );

        let synced = ok(device(d, "alice", PASSPHRASE, &["sync"]));
        assert_eq!(synced["pushed"], 3);
        let after = ok(device(d, "alice", PASSPHRASE, &["status"]));
        assert_eq!(
            (after["pending_ops"].as_u64(), after["synced"].as_bool()),
            (Some(0), Some(true))
        );
        let pulled = ok(device(d, "bob", PASSPHRASE, &["sync"]));
        assert_eq!(pulled["pulled"], 3);
        let bob_sees = ok(device(d, "bob", PASSPHRASE, &["show", &id]));
        assert_eq!(bob_sees["case"]["risk_level"], "high");

        failed(device(d, "bob", PASSPHRASE, &["wipe"]));
        ok(device(d, "bob", PASSPHRASE, &["wipe", "--yes"]));
        assert!(!d.join("bob.fieldcase").exists());
        assert!(d.join("alice.fieldcase").exists());
    });
    work.await.unwrap();
    server.shutdown().await.unwrap();
}

#[test]
fn the_demo_converges_keeps_agencies_apart_and_wipes_the_revoked_phone() {
    let output = Command::new(BIN)
        .args(["--json", "demo", "--cases-per-device", "8"])
        .output()
        .unwrap();
    let summary = ok(output);
    assert_eq!(summary["converged"], true);
    assert_eq!(summary["isolation_held"], true);
    assert_eq!(summary["revoked_device_wiped"], true);
    assert_eq!(summary["conflicts"], 1);
    let devices = summary["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    for device in devices {
        assert_eq!(device["synced"], true, "{device}");
        assert_eq!(
            device["cases"], 16,
            "each agency's two phones recorded 8 cases each: {device}"
        );
    }
}
