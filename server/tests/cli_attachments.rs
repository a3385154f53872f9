//! `fieldcase device attach | attachments | attachment-get`, run as the real binary against a
//! real server on loopback: a photo added on one device arrives byte for byte on another.

mod common;

use common::{caseworker_codes, ok, server_with_agencies, PASSPHRASE};
use serde_json::json;
use std::path::Path;
use std::process::Output;

fn device(dir: &Path, profile: &str, args: &[&str]) -> Output {
    common::device_cli(dir, profile, PASSPHRASE, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_attached_on_one_device_arrives_whole_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_uga", "IOM Uganda")]).await;
    let codes = caseworker_codes(&admin, &[("alice", "iom_uga"), ("bob", "iom_uga")]).await;
    let url = server.base_url.clone();
    let root = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let d = root.join("devices");
        for (profile, code) in ["alice", "bob"].iter().zip(&codes) {
            ok(device(&d, profile, &["enroll", "--server", &url, "--code", code]));
        }
        let case = json!({
            "given_name": "Selamawit", "family_name": "Gebremariam", "date_of_birth": "1990",
            "sex": "female", "nationality": "ETH", "country_of_assistance": "UGA",
            "intake_date": "2026-09-14", "categories": ["victim_of_trafficking"],
            "programme": "direct_assistance", "exploitation_types": ["domestic_servitude"],
            "trafficking_type": "international",
            "consent": {"assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"}, "data_sharing": "none"}
        });
        let case_path = root.join("case.json");
        std::fs::write(&case_path, case.to_string()).unwrap();
        let case_id = ok(device(&d, "alice", &["add", "--file", case_path.to_str().unwrap()]))["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let mut photo = b"\x89PNG\r\n\x1a\n".to_vec();
        photo.extend((0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        let photo_path = root.join("consent.png");
        std::fs::write(&photo_path, &photo).unwrap();

        // A declared type that the content contradicts: refused, nothing stored.
        let refused = device(
            &d,
            "alice",
            &["attach", &case_id, photo_path.to_str().unwrap(), "--type", "image/jpeg"],
        );
        assert!(!refused.status.success());
        let listed = ok(device(&d, "alice", &["attachments", &case_id]));
        assert!(listed["attachments"].as_array().unwrap().is_empty());

        let added = ok(device(
            &d,
            "alice",
            &[
                "attach",
                &case_id,
                photo_path.to_str().unwrap(),
                "--label",
                "consent signature",
                "--field",
                "consent.data_sharing",
            ],
        ));
        let id = added["id"].as_str().unwrap().to_owned();
        assert_eq!(added["content_type"], "image/png");
        assert_eq!(added["uploaded"], false);
        let status = ok(device(&d, "alice", &["status"]));
        assert_eq!(status["pending_attachments"], 1);
        assert_eq!(status["synced"], false);

        let synced = ok(device(&d, "alice", &["sync"]));
        assert_eq!(synced["attachments_uploaded"], 1);
        assert_eq!(synced["synced"], true);
        let listed = ok(device(&d, "alice", &["attachments", &case_id]));
        assert_eq!(listed["attachments"][0]["uploaded"], true);

        ok(device(&d, "bob", &["sync"]));
        let out = root.join("downloaded.png");
        let got = ok(device(
            &d,
            "bob",
            &["attachment-get", &id, "--out", out.to_str().unwrap()],
        ));
        assert_eq!(got["size"], photo.len());
        assert_eq!(std::fs::read(&out).unwrap(), photo, "byte for byte");
        // Now on bob's device too; a second get reads it locally, and never overwrites.
        let again = device(
            &d,
            "bob",
            &["attachment-get", &id, "--out", out.to_str().unwrap()],
        );
        assert!(!again.status.success(), "an existing file is not overwritten");
        let listed = ok(device(&d, "bob", &["attachments", &case_id]));
        assert_eq!(listed["attachments"][0]["label"], "consent signature");
    })
    .await
    .unwrap();
}
