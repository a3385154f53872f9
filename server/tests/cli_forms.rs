//! Forms from the command line, with the real binary and a real server on loopback:
//! `admin form publish` (XLSForm and JSON), `admin form list|convert`, then a device that
//! syncs, lists its forms and records answers with `--form`.

mod common;

use common::{admin_cli as admin, ok, PASSPHRASE};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../forms")
        .join(name)
}

fn device(dir: &Path, args: &[&str]) -> Output {
    common::device_cli(dir, "amina", PASSPHRASE, args)
}

/// The error text of a command that must fail.
fn failed(output: Output) -> String {
    assert!(!output.status.success(), "command should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_publishes_and_a_device_records_answers_with_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let token = server.admin_token().unwrap();
    let client = AdminClient::new(&server.base_url, token.clone()).unwrap();
    client.create_agency("iom_uga", "IOM Uganda").await.unwrap();
    let user = client
        .create_user("iom_uga", Role::Caseworker, "Amina")
        .await
        .unwrap();
    let code = client.enrollment_code(&user.id, None).await.unwrap().code;
    let url = server.base_url.clone();
    let root = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let xlsx = shipped("screening.xlsx");
        let published = ok(admin(
            &url,
            &token,
            &[
                "form",
                "publish",
                xlsx.to_str().unwrap(),
                "--agency",
                "iom_uga",
            ],
        ));
        assert_eq!(published["id"], "iom_screening");
        assert_eq!(published["created"], true);
        let json_file = shipped("assistance.json");
        ok(admin(
            &url,
            &token,
            &[
                "form",
                "publish",
                json_file.to_str().unwrap(),
                "--agency",
                "iom_uga",
            ],
        ));
        let listed = ok(admin(&url, &token, &["form", "list"]));
        assert_eq!(listed.as_array().unwrap().len(), 2);

        // A workbook with problems is refused before anything is sent, naming the row.
        let bad = root.join("bad.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet().set_name("survey").unwrap();
        for (r, row) in [["type", "name"], ["geopoint", "where"]].iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, *cell).unwrap();
            }
        }
        book.save(&bad).unwrap();
        let refused = failed(admin(
            &url,
            &token,
            &["form", "publish", bad.to_str().unwrap()],
        ));
        assert!(
            refused.contains("survey row 2: type `geopoint` is not supported"),
            "{refused}"
        );

        // Convert needs no server: xlsx → json gives the shipped definition.
        let converted = root.join("screening.json");
        ok_status(admin(
            "http://127.0.0.1:1",
            "unused",
            &[
                "form",
                "convert",
                xlsx.to_str().unwrap(),
                converted.to_str().unwrap(),
            ],
        ));
        let a: Value = serde_json::from_slice(&std::fs::read(&converted).unwrap()).unwrap();
        let b: Value =
            serde_json::from_slice(&std::fs::read(shipped("screening.json")).unwrap()).unwrap();
        assert_eq!(a, b);

        let devices = root.join("devices");
        ok(device(
            &devices,
            &["enroll", "--server", &url, "--code", &code],
        ));
        ok(device(&devices, &["sync"]));
        let forms = ok(device(&devices, &["form", "list"]));
        let ids: Vec<_> = forms
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].clone())
            .collect();
        assert_eq!(ids, [json!("iom_assistance"), json!("iom_screening")]);
        let shown = ok(device(
            &devices,
            &["form", "show", "iom_screening", "--lang", "fr"],
        ));
        assert_eq!(shown["fields"][2]["label"], "Date de l'entretien");

        let case = json!({
            "intake_date": "2026-10-02", "sex": "female", "nationality": "ETH",
            "country_of_assistance": "UGA", "categories": ["stranded_migrant"],
            "answers": {"screening_consent": true, "interview_language": "en",
                        "is_minor": false, "was_recruited": false, "forced_to_work": false,
                        "screening_outcome": "not_victim"}
        });
        let file = root.join("case.json");
        std::fs::write(&file, case.to_string()).unwrap();
        let added = ok(device(
            &devices,
            &[
                "add",
                "--file",
                file.to_str().unwrap(),
                "--form",
                "iom_screening",
            ],
        ));
        let id = added["id"].as_str().unwrap().to_owned();
        // An answer the form does not allow is refused, naming the field and not the value.
        let refused = failed(device(
            &devices,
            &[
                "update",
                &id,
                "--set",
                "answers.interview_language=\"Tigrinya dialect\"",
            ],
        ));
        assert!(refused.contains("answers.interview_language"), "{refused}");
        assert!(!refused.contains("Tigrinya"), "{refused}");
        let refused = failed(device(
            &devices,
            &[
                "add",
                "--file",
                file.to_str().unwrap(),
                "--form",
                "iom_screening@7",
            ],
        ));
        assert!(refused.contains("forms.iom_screening"), "{refused}");
        let shown = ok(device(&devices, &["show", &id]));
        assert_eq!(shown["case"]["forms"]["iom_screening"], 1);
    })
    .await
    .unwrap();
}

fn ok_status(output: Output) {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
