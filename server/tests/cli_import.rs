//! `fieldcase device import` of spreadsheets and `device review list`, run as the real binary
//! with a real encrypted store enrolled against a real server on loopback.

mod common;

use common::{
    caseworker_codes, device_cli as device, failed, ok, server_with_agencies, BIN, PASSPHRASE,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/spreadsheets")
        .join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caseworker_checks_imports_reviews_and_syncs_a_spreadsheet() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let codes = caseworker_codes(&admin, &[("alice", "iom_uga")]).await;
    let url = server.base_url.clone();
    let devices = dir.path().join("devices");
    tokio::task::spawn_blocking(move || {
        let d = devices.as_path();
        ok(device(d, "alice", PASSPHRASE, &["enroll", "--server", &url, "--code", &codes[0]]));
        let csv = fixture("caseload_fr_excel.csv");
        let csv = csv.to_str().unwrap();

        // The dry run: what each column became and every problem, nothing written, and a
        // failure status because rows would be refused.
        let checked = device(d, "alice", PASSPHRASE, &["import", csv, "--dry-run"]);
        let report: Value = serde_json::from_slice(&checked.stdout).unwrap();
        assert_eq!(report["header_row"], 4);
        assert_eq!(report["columns"][3]["target"], "sex");
        assert_eq!(report["columns"][3]["how"], "common header");
        assert_eq!(report["columns"][10]["target"], Value::Null);
        assert_eq!((report["imported"].as_u64(), report["refused"].as_u64()), (Some(4), Some(2)));
        assert_eq!(report["problems"][1]["row"], 9);
        assert_eq!(report["problems"][1]["column"], "C");
        assert_eq!(report["problems"][1]["field"], "date_of_birth");
        let stdout = String::from_utf8_lossy(&checked.stdout).into_owned();
        for personal in ["Grace", "Achieng", "Paul", "Otieno", "2001-13-01"] {
            assert!(!stdout.contains(personal), "{personal} in {stdout}");
        }
        let error = failed(checked);
        assert!(error["message"].as_str().unwrap().contains("2 row(s) would be refused"), "{error}");
        assert_eq!(ok(device(d, "alice", PASSPHRASE, &["list"])).as_array().unwrap().len(), 0);

        // The same in text, as a person reads it.
        let text = Command::new(BIN)
            .args(["device", "--dir"])
            .arg(d)
            .args(["--profile", "alice", "import", csv, "--validate-only"])
            .env("FIELDCASE_PASSPHRASE", PASSPHRASE)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&text.stdout);
        assert!(shown.contains("Identité Prénom"), "{shown}");
        assert!(shown.contains("given_name (common header)"), "{shown}");
        assert!(shown.contains("would import 4 case(s) (0 flagged for review); 0 already present; 2 row(s) refused"), "{shown}");
        assert!(shown.contains("row 8, column J (consent.guardian): required when consent to assistance is given for a person under 18 at intake [--review would import the row, flagged]"), "{shown}");
        let progress = String::from_utf8_lossy(&text.stderr);
        assert!(progress.contains("6 rows read"), "{progress}");

        // Strict, then review mode: the second run adds only the row strict mode refused.
        let strict = ok(device(d, "alice", PASSPHRASE, &["import", csv]));
        assert_eq!((strict["imported"].as_u64(), strict["refused"].as_u64()), (Some(4), Some(2)));
        let review = ok(device(d, "alice", PASSPHRASE, &["import", csv, "--review"]));
        assert_eq!(review["already_present"], 4);
        assert_eq!((review["imported"].as_u64(), review["flagged"].as_u64()), (Some(1), Some(1)));
        let listed = ok(device(d, "alice", PASSPHRASE, &["review", "list"]));
        let flags = listed.as_array().unwrap();
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0]["source"], "caseload_fr_excel.csv");
        assert_eq!(flags[0]["row"], 8);
        assert_eq!(flags[0]["reasons"][0]["field"], "consent.guardian");

        // The flagged case syncs as it is (the flag stays on the device).
        let synced = ok(device(d, "alice", PASSPHRASE, &["sync"]));
        assert_eq!((synced["pushed"].as_u64(), synced["rejected"].as_u64()), (Some(5), Some(0)), "{synced}");
        assert_eq!(ok(device(d, "alice", PASSPHRASE, &["review"])).as_array().unwrap().len(), 1);

        // An edit that makes the case pass every rule takes it off the list.
        let id = flags[0]["case_id"].as_str().unwrap();
        ok(device(d, "alice", PASSPHRASE, &["update", id, "--set", "consent.guardian=Aunt"]));
        assert_eq!(ok(device(d, "alice", PASSPHRASE, &["review", "list"])).as_array().unwrap().len(), 0);
        assert_eq!(ok(device(d, "alice", PASSPHRASE, &["list"])).as_array().unwrap().len(), 5);

        // A mapping file for an older database's export; a Latin-1 file needs --encoding.
        let legacy = fixture("legacy_db_export.csv");
        let mapping = fixture("legacy_mapping.toml");
        let mapped = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["import", legacy.to_str().unwrap(), "--mapping", mapping.to_str().unwrap(), "--review"],
        ));
        assert_eq!((mapped["imported"].as_u64(), mapped["flagged"].as_u64()), (Some(3), Some(2)));
        let latin1 = fixture("latin1_old_excel.csv");
        let refused = failed(device(d, "alice", PASSPHRASE, &["import", latin1.to_str().unwrap()]));
        assert!(refused["message"].as_str().unwrap().contains("--encoding latin1"), "{refused}");
        let transcoded = ok(device(
            d,
            "alice",
            PASSPHRASE,
            &["import", latin1.to_str().unwrap(), "--encoding", "latin1"],
        ));
        assert_eq!(transcoded["imported"], 2);
        let bad_mapping = d.join("bad.toml");
        std::fs::write(&bad_mapping, "[columns]\nSexe = \"colour\"\n").unwrap();
        let bad = failed(device(
            d,
            "alice",
            PASSPHRASE,
            &["import", csv, "--mapping", bad_mapping.to_str().unwrap()],
        ));
        assert!(bad["message"].as_str().unwrap().contains("\"colour\" is not a target"), "{bad}");
    })
    .await
    .unwrap();
}
