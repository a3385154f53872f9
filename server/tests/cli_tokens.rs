//! `fieldcase admin token list|revoke|rotate`, `admin api-token …` and `admin enroll-codes …`
//! against a real server, as the `fieldcase` binary: listings without secrets, revocation
//! that takes effect at once, and rotation that replaces the token file.

mod common;

use common::{admin_cli, failed, ok, server_with_agencies};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use serde_json::Value;
use std::process::Command;

/// `fieldcase --json admin --server URL --token-file FILE ARGS…`, nothing from the environment.
fn with_token_file(url: &str, file: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(common::BIN)
        .args(["--json", "admin", "--server", url, "--token-file"])
        .arg(file)
        .args(args)
        .env_remove("FIELDCASE_ADMIN_TOKEN")
        .env_remove("FIELDCASE_ADMIN_TOKEN_FILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_listed_revoked_and_rotated_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("agency_a", "Agency A")]).await;
    let url = server.base_url.clone();
    let first_file = server.data_dir.join("admin.token");
    let root = server.admin_token().unwrap();

    // Rotation: the new token replaces the content of the token file it was read from; the
    // old one stops working and the server's first-start file is gone.
    let token_file = dir.path().join("my.token");
    std::fs::copy(&first_file, &token_file).unwrap();
    let rotated = ok(with_token_file(
        &url,
        &token_file,
        &["token", "rotate", "--expires-days", "30"],
    ));
    assert_eq!(rotated["token"], "", "written to the file, not printed");
    assert!(rotated["agency"].is_null());
    let new = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(new, root);
    assert!(!first_file.exists());
    let refused = failed(admin_cli(&url, &root, &["agency", "list"]));
    assert_eq!(refused["error"], "unauthorized");
    ok(with_token_file(&url, &token_file, &["agency", "list"]));
    let root = new;
    drop(admin);
    let admin = AdminClient::new(&url, root.clone()).unwrap();

    // Admin tokens: issued with a validity, listed without secrets, revoked by id.
    let issued = ok(admin_cli(
        &url,
        &root,
        &[
            "token",
            "add",
            "--agency",
            "agency_a",
            "--label",
            "A office",
            "--expires-days",
            "10",
        ],
    ));
    let a_token = issued["token"].as_str().unwrap().to_owned();
    let a_id = issued["id"].as_str().unwrap().to_owned();
    let listed = ok(admin_cli(&url, &root, &["token", "list"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(
        listed.len(),
        3,
        "the first token (revoked), its successor, A's"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|t| t["revoked_at"].is_string())
            .count(),
        1
    );
    assert!(!Value::Array(listed.clone()).to_string().contains(&a_token));
    assert!(listed.iter().all(|t| t.get("token").is_none()));
    let revoked = ok(admin_cli(&url, &root, &["token", "revoke", "--id", &a_id]));
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(
        failed(admin_cli(&url, &a_token, &["user", "list"]))["error"],
        "unauthorized"
    );

    // API tokens: listed, revoked one by one.
    let analyst = admin
        .create_user("agency_a", Role::Analyst, "Analyst")
        .await
        .unwrap();
    let issued = ok(admin_cli(
        &url,
        &root,
        &["token", "add", "--user", &analyst.id, "--label", "laptop"],
    ));
    let api_id = issued["id"].as_str().unwrap().to_owned();
    let listed = ok(admin_cli(&url, &root, &["api-token", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], api_id.as_str());
    assert!(!listed
        .to_string()
        .contains(issued["token"].as_str().unwrap()));
    let revoked = ok(admin_cli(&url, &root, &["api-token", "revoke", &api_id]));
    assert!(revoked["revoked_at"].is_string());

    // Enrollment codes: listed without the code, revoked, then useless.
    let worker = admin
        .create_user("agency_a", Role::Caseworker, "Worker")
        .await
        .unwrap();
    let code = ok(admin_cli(
        &url,
        &root,
        &["enroll-code", "--user", &worker.id],
    ));
    let code_id = code["id"].as_str().unwrap().to_owned();
    let listed = ok(admin_cli(&url, &root, &["enroll-codes", "list"]));
    assert_eq!(listed[0]["id"], code_id.as_str());
    assert!(!listed.to_string().contains(code["code"].as_str().unwrap()));
    let revoked = ok(admin_cli(
        &url,
        &root,
        &["enroll-codes", "revoke", &code_id],
    ));
    assert!(revoked["revoked_at"].is_string());
    assert!(
        fieldcase_core::sync::enroll(&url, code["code"].as_str().unwrap(), "phone")
            .await
            .is_err(),
        "a revoked code cannot enroll"
    );
    server.shutdown().await.unwrap();
}
