//! The `fieldcase device …` and `fieldcase demo` commands, run as the real binary against a
//! real server on loopback, with real encrypted stores in a temporary directory.

mod common;

use common::{
    caseworker_codes, device_cli as device, failed, ok, server_with_agencies, BIN, PASSPHRASE,
};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

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
async fn invalid_cases_are_refused_once_and_a_failed_check_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let codes = caseworker_codes(&admin, &[("alice", "iom_uga")]).await;
    let url = server.base_url.clone();
    let devices = dir.path().join("devices");
    tokio::task::spawn_blocking(move || {
        let d = devices.as_path();
        // The server from FIELDCASE_SERVER, as `admin` and `report` take it.
        let enrolled = Command::new(BIN)
            .args(["--json", "device", "--dir"])
            .arg(d)
            .args(["--profile", "alice", "enroll", "--code", &codes[0]])
            .env("FIELDCASE_PASSPHRASE", PASSPHRASE)
            .env("FIELDCASE_SERVER", &url)
            .output()
            .unwrap();
        assert_eq!(ok(enrolled)["agency"], "iom_uga");
        let good = std::fs::read_to_string(case_file(d, "ETH")).unwrap();
        let mut bad: Value = serde_json::from_str(&good).unwrap();
        bad["sex"] = json!("not a sex code");
        let lines = d.join("cases.jsonl");
        std::fs::write(&lines, format!("{good}\n{bad}\n{good}\n")).unwrap();
        let path = lines.to_str().unwrap();

        let checked = device(d, "alice", PASSPHRASE, &["import", path, "--validate-only"]);
        let report: Value = serde_json::from_slice(&checked.stdout).unwrap();
        assert_eq!(report["failed"], 1, "{report}");
        assert_eq!(report["validate_only"], true);
        let error = failed(checked);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("1 line(s) would be refused"),
            "{error}"
        );
        let listed = ok(device(d, "alice", PASSPHRASE, &["list"]));
        assert_eq!(
            listed.as_array().unwrap().len(),
            0,
            "a check writes nothing"
        );

        // A change the store refuses: its problems are told once, not once per cause.
        let good_file = case_file(d, "KEN");
        let added = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["add", "--file", good_file.to_str().unwrap()],
        ));
        let id = added["id"].as_str().unwrap();
        let refused = failed(device(
            d,
            "alice",
            PASSPHRASE,
            &["update", id, "--set", "sex=not_a_sex_code"],
        ));
        let message = refused["message"].as_str().unwrap();
        assert_eq!(message.matches("invalid field").count(), 1, "{message}");

        // A key that is not a field names the fields it is close to.
        let mut misnamed: Value = serde_json::from_str(&good).unwrap();
        let sex = misnamed.as_object_mut().unwrap().remove("sex").unwrap();
        misnamed["gender"] = sex;
        misnamed["country"] = json!("UGA");
        let misnamed_file = d.join("misnamed.json");
        std::fs::write(&misnamed_file, misnamed.to_string()).unwrap();
        let refused = failed(device(
            d,
            "alice",
            PASSPHRASE,
            &["add", "--file", misnamed_file.to_str().unwrap()],
        ));
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("gender: not a field of this record; did you mean sex?"),
            "{message}"
        );
        assert!(
            message.contains(
                "did you mean nationality, country_of_assistance or country_of_destination?"
            ),
            "{message}"
        );

        // The documented minimal example is a case as it stands.
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/examples/case-minimal.json"
        );
        ok(device(d, "alice", PASSPHRASE, &["add", "--file", example]));

        // All lines valid: the check succeeds.
        std::fs::write(&lines, format!("{good}\n")).unwrap();
        let clean = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["import", path, "--validate-only"],
        ));
        assert_eq!(clean["failed"], 0);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caseworker_records_searches_corrects_and_syncs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let codes = caseworker_codes(&admin, &[("alice", "iom_uga"), ("bob", "iom_uga")]).await;
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
        // The code works once, and a refused code is told as such.
        let refused = failed(device(
            d,
            "carol",
            PASSPHRASE,
            &["enroll", "--server", &url, "--code", &alice_code],
        ));
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("enrollment code was not accepted"),
            "{message}"
        );

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
        .args(["--json", "demo", "--cases-per-device", "8", "--exit"])
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
        // Each agency's two phones recorded 8 cases each; the shelter also holds the one
        // case referred to it.
        let expected = if device["agency"] == "shelter_kla" {
            17
        } else {
            16
        };
        assert_eq!(device["cases"], expected, "{device}");
    }

    // The screening form reached the other agency's phone; the referral was accepted there
    // and the referring phone knows it; the receiver sees no more than was shared.
    assert!(summary["forms_on_a_shelter_phone"].as_u64().unwrap() >= 1);
    let referral = &summary["referral"];
    assert_eq!(referral["status_on_the_referring_phone"], "accepted");
    let shared = referral["shared_fields"].as_array().unwrap().len() as u64;
    assert!(shared >= 4, "{referral}");
    let seen = referral["fields_the_receiver_sees"].as_u64().unwrap();
    assert!(
        seen <= shared + 1,
        "at most what was shared (and the case's kind): {referral}"
    );

    // Exact figures count all 32 people; published ones never show a count from 1 to 4.
    let rows = |which: &str| -> Vec<(String, String)> {
        serde_json::from_value(summary["report"][which]["rows"].clone()).unwrap()
    };
    let exact = rows("exact");
    assert_eq!(
        exact.last().unwrap(),
        &("total".to_owned(), "32".to_owned())
    );
    let public = rows("public");
    assert_eq!(public.len(), exact.len());
    for (label, count) in &public {
        if let Ok(n) = count.parse::<u64>() {
            assert!(n == 0 || n >= 5, "{label}: {count} published");
        }
    }
    assert!(
        exact
            .iter()
            .any(|(_, c)| matches!(c.parse::<u64>(), Ok(1..=4))),
        "the population has small cells for publication to protect: {exact:?}"
    );
    // Protection changed what a small cell shows (a cell-key perturbation publishes 1–4 as
    // 0 or 5).
    assert!(
        exact
            .iter()
            .zip(&public)
            .any(|((_, e), (_, p))| matches!(e.parse::<u64>(), Ok(1..=4)) && e != p),
        "{exact:?} {public:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn referrals_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = [("iom_uga", "IOM Uganda"), ("iom_eth", "IOM Ethiopia")];
    let (server, admin) = server_with_agencies(dir.path(), &agencies).await;
    let people = [("alice", "iom_uga"), ("bob", "iom_eth"), ("bea", "iom_eth")];
    let codes = caseworker_codes(&admin, &people).await;
    let devices = dir.path().join("devices");
    let url = server.base_url.clone();
    let work = tokio::task::spawn_blocking(move || {
        let d = devices.as_path();
        for (profile, code) in ["alice", "bob", "bea"].iter().zip(&codes) {
            ok(device(
                d,
                profile,
                PASSPHRASE,
                &["enroll", "--server", &url, "--code", code],
            ));
        }
        let run = |profile: &str, args: &[&str]| ok(device(d, profile, PASSPHRASE, args));
        let refuse =
            |profile: &str, args: &[&str]| refuse_output(device(d, profile, PASSPHRASE, args));
        let file = case_file(d, "ETH");
        let case_id = run("alice", &["add", "--file", file.to_str().unwrap()])["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let create = |share: &str| {
            device(
                d,
                "alice",
                PASSPHRASE,
                &[
                    "referral",
                    "create",
                    &case_id,
                    "--to",
                    "iom_eth",
                    "--services",
                    "shelter,return_travel",
                    "--reason",
                    "Returning home; needs a bed",
                    "--urgency",
                    "high",
                    "--share",
                    share,
                ],
            )
        };
        // The case's consent names no agency: identifying fields are refused, by name.
        let message = refuse_output(create("sex,given_name"));
        assert!(message.contains("given_name"), "{message}");
        let referral_id = ok(create("sex,nationality"))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let listed = run("alice", &["referral", "list", "--case", &case_id]);
        assert_eq!(listed[0]["confirmed"], false);
        assert_eq!(listed[0]["party"], "sender");
        run("alice", &["sync"]);

        // The receiving caseworkers see the referral and the shared fields, nothing more.
        run("bob", &["sync"]);
        run("bea", &["sync"]);
        let received = device(d, "bob", PASSPHRASE, &["referral", "list"]);
        let text = String::from_utf8_lossy(&received.stdout).to_string();
        assert!(!text.contains("Selamawit") && !text.contains("Gebremariam"));
        let received = ok(received);
        assert_eq!(received[0]["status"], "sent");
        assert_eq!(received[0]["party"], "receiver");
        let shown = device(d, "bob", PASSPHRASE, &["show", &case_id]);
        assert!(!String::from_utf8_lossy(&shown.stdout).contains("Selamawit"));
        let shown = ok(shown);
        assert_eq!(shown["owner_agency"], "iom_uga");
        assert_eq!(
            shown["case"],
            json!({"sex": "female", "nationality": "ETH"})
        );
        assert_eq!(run("bob", &["search", "--name", "selamawit"]), json!([]));
        let message = refuse("bob", &["update", &case_id, "--set", "risk_level=low"]);
        assert!(message.contains("another agency"), "{message}");

        // Both answer offline; the first to sync wins, the other is told why.
        let queued = run("bob", &["referral", "accept", &referral_id]);
        assert_eq!(queued["pending"], true);
        assert_eq!(queued["expected_status"], "accepted");
        let message = refuse("bea", &["referral", "decline", &referral_id]);
        assert!(message.contains("reason"), "{message}");
        run(
            "bea",
            &["referral", "decline", &referral_id, "--reason", "no space"],
        );
        let message = refuse("alice", &["referral", "accept", &referral_id]);
        assert!(message.contains("receiving"), "{message}");
        assert_eq!(run("bob", &["status"])["pending_transitions"], 1);
        // What people read (text mode).
        let text = |profile: &str, args: &[&str]| {
            let output = Command::new(BIN)
                .args(["device", "--dir"])
                .arg(d)
                .args(["--profile", profile])
                .args(args)
                .env("FIELDCASE_PASSPHRASE", PASSPHRASE)
                .env_remove("FIELDCASE_DEVICE_DIR")
                .env_remove("FIELDCASE_PROFILE")
                .output()
                .unwrap();
            assert!(output.status.success());
            String::from_utf8(output.stdout).unwrap()
        };
        // The receiving caseworker reads the referral in full.
        let shown = text("bob", &["referral", "show", &referral_id]);
        let line = |label: &str| {
            shown
                .lines()
                .find_map(|l| l.strip_prefix(label))
                .unwrap_or_default()
                .to_owned()
        };
        let services = line("services: ");
        assert!(
            services.contains("shelter") && services.contains("return_travel"),
            "{shown}"
        );
        assert_eq!(line("reason: "), "Returning home; needs a bed", "{shown}");
        assert_eq!(line("shared fields: "), "nationality, sex", "{shown}");
        // The decision sent is counted (not "pushed 0").
        let synced = text("bob", &["sync"]);
        assert!(
            synced.contains("pushed 0 change(s) and 1 referral decision(s)"),
            "{synced}"
        );
        assert!(synced.contains("1 confirmed, 0 refused"), "{synced}");
        // Times as dates, not epoch milliseconds.
        let status = text("bob", &["status"]);
        let last = status
            .lines()
            .find_map(|line| line.strip_prefix("last sync: "))
            .unwrap_or_default();
        assert!(last.starts_with("20") && last.ends_with('Z'), "{status}");
        let timeline = text("bob", &["referral", "timeline", &referral_id]);
        let epoch_ms = |word: &str| word.len() >= 12 && word.chars().all(|c| c.is_ascii_digit());
        assert!(
            !timeline.split_whitespace().any(epoch_ms),
            "no epoch milliseconds: {timeline}"
        );
        assert!(timeline.contains('Z'), "{timeline}");
        assert_eq!(run("bea", &["sync"])["referral_transitions_refused"], 1);
        let lost = run("bea", &["referral", "list"]);
        assert_eq!(lost[0]["status"], "accepted");
        assert!(lost[0]["pending"].as_array().unwrap().is_empty());
        assert_eq!(lost[0]["last_rejection"]["code"], "status_changed");
        assert_eq!(lost[0]["last_rejection"]["current_status"], "accepted");
        assert_eq!(lost[0]["last_rejection"]["transition"], "decline");

        run("alice", &["sync"]);
        let timeline = run("alice", &["referral", "timeline", &referral_id]);
        let steps: Vec<(Value, Value, Value)> = timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["transition"].clone(),
                    e["status"].clone(),
                    e["agency"].clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (Value::Null, json!("sent"), json!("iom_uga")),
                (json!("accept"), json!("accepted"), json!("iom_eth")),
            ]
        );
        assert_eq!(run("alice", &["referral", "list"])[0]["status"], "accepted");
        let of_case = run("alice", &["referral", "timeline", "--case", &case_id]);
        assert_eq!(of_case.as_array().unwrap().len(), 2);
        assert_eq!(of_case[1]["referral_id"], referral_id.as_str());
    });
    work.await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referral_handed_over_offline_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = [("iom_uga", "IOM Uganda"), ("iom_eth", "IOM Ethiopia")];
    let (server, admin) = server_with_agencies(dir.path(), &agencies).await;
    let people = [("alice", "iom_uga"), ("bob", "iom_eth")];
    let codes = caseworker_codes(&admin, &people).await;
    let devices = dir.path().join("devices");
    let url = server.base_url.clone();
    let work = tokio::task::spawn_blocking(move || {
        let d = devices.as_path();
        for (profile, code) in ["alice", "bob"].iter().zip(&codes) {
            ok(device(
                d,
                profile,
                PASSPHRASE,
                &["enroll", "--server", &url, "--code", code],
            ));
        }
        let run = |profile: &str, args: &[&str]| ok(device(d, profile, PASSPHRASE, args));
        let file = case_file(d, "ETH");
        let case_id = run("alice", &["add", "--file", file.to_str().unwrap()])["id"]
            .as_str()
            .unwrap()
            .to_owned();
        run("alice", &["sync"]);
        run("bob", &["sync"]);
        run("alice", &["sync"]); // holds bob's key now, for the receipt

        // No network from here on: refer, make the bundle as a file and as QR codes.
        let referral_id = run(
            "alice",
            &[
                "referral",
                "create",
                &case_id,
                "--to",
                "iom_eth",
                "--services",
                "shelter",
                "--reason",
                "Needs a bed tonight",
                "--share",
                "sex,nationality",
            ],
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let bundle = d.join("handoff.fchb");
        let made = device(
            d,
            "alice",
            PASSPHRASE,
            &[
                "handoff",
                "make",
                &referral_id,
                "--out",
                bundle.to_str().unwrap(),
                "--qr",
            ],
        );
        let drawn = String::from_utf8_lossy(&made.stderr).to_string();
        let made = ok(made);
        let codes = made["qr_codes"].as_u64().unwrap();
        assert!(codes >= 1, "{made}");
        assert_eq!(made["qr_version"], 12);
        assert_eq!(
            made["bytes"].as_u64().unwrap(),
            std::fs::metadata(&bundle).unwrap().len()
        );
        assert!(
            drawn.contains(&format!("QR code {codes} of {codes}")),
            "{drawn}"
        );
        assert!(drawn.contains('▀') || drawn.contains('▄'), "half blocks");
        let nothing = failed(device(
            d,
            "alice",
            PASSPHRASE,
            &["handoff", "make", &referral_id],
        ));
        assert!(nothing["message"]
            .as_str()
            .unwrap()
            .contains("--out FILE, --qr"));

        // The receiving caseworker reads it and accepts at once; a second read is refused.
        let read = run("bob", &["handoff", "read", bundle.to_str().unwrap()]);
        assert_eq!(read["referral_id"], referral_id.as_str());
        assert_eq!(read["from_agency"], "iom_uga");
        run("bob", &["referral", "accept", &referral_id]);
        let again = refuse_output(device(
            d,
            "bob",
            PASSPHRASE,
            &["handoff", "read", bundle.to_str().unwrap()],
        ));
        assert!(again.contains("already read"), "{again}");

        // Bob shows his answer back; alice's phone records it, pending the server.
        let receipt = d.join("receipt.fchr");
        run(
            "bob",
            &[
                "handoff",
                "receipt",
                &referral_id,
                "--out",
                receipt.to_str().unwrap(),
            ],
        );
        let reported = run(
            "alice",
            &["handoff", "read-receipt", receipt.to_str().unwrap()],
        );
        assert_eq!(reported["reported"], "accept");

        // Back online, the receiving phone first: one referral, accepted, on both.
        run("bob", &["sync"]);
        run("alice", &["sync"]);
        for profile in ["alice", "bob"] {
            let listed = run(profile, &["referral", "list"]);
            assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
            assert_eq!(listed[0]["status"], "accepted", "{profile}: {listed}");
        }
    });
    work.await.unwrap();
    server.shutdown().await.unwrap();
}

/// The message of a failed command, checked for the case's names.
fn refuse_output(output: Output) -> String {
    let body = failed(output);
    let message = body["message"].as_str().unwrap().to_owned();
    for secret in ["Selamawit", "Gebremariam"] {
        assert!(!message.contains(secret), "{message}");
    }
    message
}

#[test]
fn adding_a_case_says_where_its_format_is_documented() {
    let output = Command::new(BIN)
        .args(["device", "add", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("docs/case-format.md"), "{help}");
    assert!(help.contains("docs/examples/"), "{help}");
    assert!(!help.contains("nested import form"), "{help}");
    for path in ["docs/case-format.md", "docs/examples"] {
        let there = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        assert!(there.exists(), "the help names {path}, which must exist");
    }
}

#[test]
fn enrolling_without_a_server_says_how_to_name_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .env_remove("FIELDCASE_SERVER")
        .env("FIELDCASE_PASSPHRASE", PASSPHRASE)
        .args(["device", "--dir"])
        .arg(dir.path())
        .args(["--profile", "amina", "enroll", "--code", "K7QM-4TXP-9WDR"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--server URL") && stderr.contains("FIELDCASE_SERVER"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}
