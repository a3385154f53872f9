//! The real `fieldcase` binary: `serve` on an OS-chosen port, `admin` against it, SIGTERM.

use fieldcase_core::protocol::{
    decode_body, encode_body, EnrollResponse, SyncRequest, SyncResponse, CONTENT_TYPE,
    PROTOCOL_VERSION,
};
use fieldcase_core::{FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");
const MARKER: &str = "Selam-Gebremedhin-MARKER-42";
/// A guard against a hung child, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "FIELDCASE_ADMIN_TOKEN",
        "FIELDCASE_ADMIN_TOKEN_FILE",
        "FIELDCASE_SERVER",
        "FIELDCASE_DATA_DIR",
        "FIELDCASE_LISTEN",
        "FIELDCASE_SERVER_KEY_FILE",
        "FIELDCASE_DATABASE_URL",
        "FIELDCASE_SERVER_KEY",
        "FIELDCASE_SERVER_KEY_COMMAND",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.kill_on_drop(true);
    cmd
}

struct Serve {
    child: Child,
    url: String,
    first_line: String,
    stderr: JoinHandle<String>,
}

async fn serve(data_dir: &Path) -> Serve {
    serve_with(data_dir, None, &[]).await
}

/// `serve` on the embedded SQLite, or on the PostgreSQL database at `database_url` (passed in
/// `FIELDCASE_DATABASE_URL`, as an operator would pass a URL holding a password).
async fn serve_on(data_dir: &Path, database_url: Option<&str>) -> Serve {
    serve_with(data_dir, database_url, &[]).await
}

/// `fieldcase serve` with `extra` arguments, on SQLite or the database at `database_url`.
async fn serve_with(
    data_dir: &Path,
    database_url: Option<&str>,
    extra: &[&std::ffi::OsStr],
) -> Serve {
    let mut cmd = command();
    if let Some(url) = database_url {
        cmd.env("FIELDCASE_DATABASE_URL", url);
    }
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first_line = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .expect("serve prints its address")
        .unwrap()
        .expect("a line on stdout");
    let url = first_line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let mut err = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).await;
        text
    });
    Serve {
        child,
        url,
        first_line,
        stderr,
    }
}

impl Serve {
    /// SIGTERM, then the exit status and everything logged.
    async fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server stops on SIGTERM")
            .unwrap();
        (status.success(), self.stderr.await.unwrap())
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn admin(url: &str, token_file: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.args(["admin", "--server", url]);
    if let Some(file) = token_file {
        cmd.arg("--token-file").arg(file);
    }
    let output = tokio::time::timeout(PATIENCE, cmd.args(args).output())
        .await
        .expect("the admin command finishes")
        .unwrap();
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn admin_json(url: &str, token_file: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = admin(url, Some(token_file), &all).await;
    assert!(run.ok, "fieldcase admin {args:?} failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

async fn sync(
    http: &reqwest::Client,
    url: &str,
    credential: &str,
    ops: Vec<Operation>,
) -> (u16, Vec<u8>) {
    let body = encode_body(&SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: None,
        pull_limit: None,
        commands: vec![],
        handoff: None,
    });
    let response = http
        .post(format!("{url}/v1/sync"))
        .bearer_auth(credential)
        .header("content-type", CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.bytes().await.unwrap().to_vec(),
    )
}

fn marker_op(enrolled: &EnrollResponse) -> Operation {
    let device = enrolled.device_id;
    Operation {
        op_id: OpId { device, seq: 1 },
        kind: RecordKind::Case,
        record_id: RecordId::new(),
        hlc: Hlc {
            wall_ms: 1_700_000_000_000,
            counter: 0,
            device,
        },
        fields: [("given_name".to_owned(), FieldChange::fresh(json!(MARKER)))].into(),
    }
}

fn contains(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
    })
}

#[tokio::test]
async fn serve_and_admin_work_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve(&data).await;
    let url = server.url.clone();
    let token_file = data.join("admin.token");
    let admin_token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();

    let agency = admin_json(
        &url,
        &token_file,
        &["agency", "add", "iom_uga", "--name", "IOM Uganda"],
    )
    .await;
    assert_eq!(agency["code"], "iom_uga");
    let human = admin(&url, Some(&token_file), &["agency", "list"]).await;
    assert!(human.ok && human.stdout.contains("iom_uga") && human.stdout.contains("IOM Uganda"));

    let user = admin_json(
        &url,
        &token_file,
        &[
            "user",
            "add",
            "--agency",
            "iom_uga",
            "--role",
            "caseworker",
            "--name",
            "Case Worker",
        ],
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let users = admin_json(&url, &token_file, &["user", "list", "--agency", "iom_uga"]).await;
    assert_eq!(users[0]["id"], user_id);

    let http = reqwest::Client::new();
    let mut enrolled = Vec::new();
    for _ in 0..2 {
        let code = admin_json(&url, &token_file, &["enroll-code", "--user", &user_id]).await;
        let reply = http
            .post(format!("{url}/v1/enroll"))
            .json(&json!({"code": code["code"], "device_label": "tablet"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        enrolled.push(reply.json::<EnrollResponse>().await.unwrap());
    }
    let (a, b) = (&enrolled[0], &enrolled[1]);

    let pushed = marker_op(a);
    let (status, _) = sync(&http, &url, &a.credential, vec![pushed.clone()]).await;
    assert_eq!(status, 200);
    let (status, body) = sync(&http, &url, &b.credential, vec![]).await;
    assert_eq!(status, 200);
    let page: SyncResponse = decode_body(&body).unwrap();
    assert_eq!(page.ops, vec![pushed]);

    let devices = admin_json(&url, &token_file, &["device", "list"]).await;
    assert_eq!(devices.as_array().unwrap().len(), 2);
    let revoked = admin_json(
        &url,
        &token_file,
        &["device", "revoke", &a.device_id.to_string()],
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = sync(&http, &url, &a.credential, vec![]).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"],
        "device_revoked"
    );

    // Errors: the server's ErrorBody on stderr with --json, a plain message without.
    let refused = admin(
        &url,
        Some(&token_file),
        &["--json", "agency", "add", "Not-Valid", "--name", "x"],
    )
    .await;
    assert!(!refused.ok);
    let error: Value = serde_json::from_str(refused.stderr.trim()).unwrap();
    assert_eq!(error["error"], "bad_request");
    let no_token = admin(&url, None, &["agency", "list"]).await;
    assert!(!no_token.ok && no_token.stderr.contains("FIELDCASE_ADMIN_TOKEN"));

    let (clean_exit, logs) = server.terminate().await;
    assert!(clean_exit, "SIGTERM is a clean shutdown:\n{logs}");
    for line in logs.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry["level"].is_string());
    }
    assert!(
        logs.contains("\"message\":\"sync\""),
        "sync is logged with counts"
    );
    for secret in [
        MARKER,
        "Case Worker",
        a.credential.as_str(),
        admin_token.as_str(),
    ] {
        assert!(!logs.contains(secret), "logs must not contain {secret:?}");
    }
    assert!(!contains(&data, MARKER), "the value is sealed at rest");

    // A restart keeps the data and the token, and writes no new token.
    let again = serve(&data).await;
    assert_eq!(again.first_line, format!("listening on {}", again.url));
    let agencies = admin_json(&again.url, &token_file, &["agency", "list"]).await;
    assert_eq!(agencies[0]["code"], "iom_uga");
    let (clean_exit, _) = again.terminate().await;
    assert!(clean_exit);
}

/// `--metrics-token-file` and `--trusted-proxy` as an operator gives them.
#[tokio::test]
async fn serve_takes_a_metrics_token_file_and_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let metrics_file = dir.path().join("metrics.token");
    let metrics_token = "k".repeat(40);
    std::fs::write(&metrics_file, format!("{metrics_token}\n")).unwrap();
    let server = serve_with(
        &data,
        None,
        &[
            "--metrics-token-file".as_ref(),
            metrics_file.as_os_str(),
            "--trusted-proxy".as_ref(),
            "127.0.0.9".as_ref(),
        ],
    )
    .await;
    let admin_token = std::fs::read_to_string(data.join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let metrics = |token: Option<&str>| {
        let mut request = http.get(format!("{}/metrics", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(metrics(None).await, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(metrics(Some(&metrics_token)).await, reqwest::StatusCode::OK);

    let proxy = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 9]))
        .build()
        .unwrap();
    let via = |client: &str, token: &str| {
        proxy
            .get(format!("{}/v1/admin/agencies", server.url))
            .header("x-forwarded-for", client.to_owned())
            .bearer_auth(token.to_owned())
            .send()
    };
    let mut status = reqwest::StatusCode::OK;
    for _ in 0..fieldcase_server::http::throttle::MAX_AUTH_FAILURES + 1 {
        status = via("203.0.113.1", "guess").await.unwrap().status();
    }
    assert_eq!(status, reqwest::StatusCode::TOO_MANY_REQUESTS);
    let other = via("203.0.113.2", &admin_token).await.unwrap().status();
    assert_eq!(
        other,
        reqwest::StatusCode::OK,
        "counted per forwarded client"
    );
    let (stopped, _) = server.terminate().await;
    assert!(stopped);
}

/// Keeps the password of the database URL out of logs; trust authentication ignores it.
const DB_PASSWORD: &str = "pw-Abebe-Kebede-0042";

#[tokio::test]
async fn serve_with_a_database_url_keeps_everything_in_postgresql() {
    use fieldcase_server::storage::postgres::testing::TempDatabase;
    let database = tokio::task::spawn_blocking(TempDatabase::create)
        .await
        .unwrap();
    let url_with_password = database.url().replacen("@", &format!(":{DB_PASSWORD}@"), 1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve_on(&data, Some(&url_with_password)).await;
    let url = server.url.clone();
    let token_file = data.join("admin.token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    admin_json(
        &url,
        &token_file,
        &["agency", "add", "iom_uga", "--name", "IOM Uganda"],
    )
    .await;
    let user = admin_json(
        &url,
        &token_file,
        &[
            "user",
            "add",
            "--agency",
            "iom_uga",
            "--role",
            "caseworker",
            "--name",
            "Staff",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let mut enrolled = Vec::new();
    for _ in 0..2 {
        let code = admin_json(
            &url,
            &token_file,
            &["enroll-code", "--user", user["id"].as_str().unwrap()],
        )
        .await;
        let reply = http
            .post(format!("{url}/v1/enroll"))
            .json(&json!({"code": code["code"], "device_label": "tablet"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        enrolled.push(reply.json::<EnrollResponse>().await.unwrap());
    }
    let pushed = marker_op(&enrolled[0]);
    let (status, _) = sync(&http, &url, &enrolled[0].credential, vec![pushed.clone()]).await;
    assert_eq!(status, 200);
    let (clean_exit, logs) = server.terminate().await;
    assert!(clean_exit, "SIGTERM is a clean shutdown:\n{logs}");
    assert!(
        !logs.contains(DB_PASSWORD),
        "the URL's password is never logged"
    );
    assert!(logs.contains("using PostgreSQL"), "{logs}");
    assert!(
        !data.join("fieldcase.db").exists(),
        "nothing is kept in an embedded database"
    );
    assert!(
        !contains(&data, MARKER),
        "the data directory holds no case data"
    );

    // A new process on the same database and key: the data, devices and admin are there.
    let server = serve_on(&data, Some(&url_with_password)).await;
    let url = server.url.clone();
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        token,
        "no second admin token on a database that has one"
    );
    let agencies = admin_json(&url, &token_file, &["agency", "list"]).await;
    assert_eq!(agencies[0]["code"], "iom_uga");
    let (status, body) = sync(&http, &url, &enrolled[1].credential, vec![]).await;
    assert_eq!(status, 200);
    let page: SyncResponse = decode_body(&body).unwrap();
    assert_eq!(
        page.ops,
        vec![pushed],
        "the other device pulls what was pushed"
    );
    let (clean_exit, logs) = server.terminate().await;
    assert!(clean_exit && !logs.contains(DB_PASSWORD), "{logs}");
    drop(database);
}

#[tokio::test]
async fn two_serve_processes_on_one_database_converge() {
    use fieldcase_server::storage::postgres::testing::TempDatabase;
    let database = tokio::task::spawn_blocking(TempDatabase::create)
        .await
        .unwrap();
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Both processes share the data directory for the at-rest key and the admin token.
    let first = serve_on(&data, Some(&url)).await;
    let second = serve_on(&data, Some(&url)).await;
    let token_file = data.join("admin.token");
    admin_json(
        &first.url,
        &token_file,
        &["agency", "add", "iom_uga", "--name", "IOM Uganda"],
    )
    .await;
    let user = admin_json(
        &second.url,
        &token_file,
        &[
            "user",
            "add",
            "--agency",
            "iom_uga",
            "--role",
            "caseworker",
            "--name",
            "Staff",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let mut enrolled = Vec::new();
    for server in [&first, &second] {
        let code = admin_json(
            &server.url,
            &token_file,
            &["enroll-code", "--user", user["id"].as_str().unwrap()],
        )
        .await;
        let reply = http
            .post(format!("{}/v1/enroll", server.url))
            .json(&json!({"code": code["code"], "device_label": "tablet"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        enrolled.push(reply.json::<EnrollResponse>().await.unwrap());
    }
    let pushed = marker_op(&enrolled[0]);
    let (status, _) = sync(
        &http,
        &first.url,
        &enrolled[0].credential,
        vec![pushed.clone()],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = sync(&http, &second.url, &enrolled[1].credential, vec![]).await;
    assert_eq!(status, 200);
    let page: SyncResponse = decode_body(&body).unwrap();
    assert_eq!(
        page.ops,
        vec![pushed],
        "a device of the other process pulls it"
    );
    for server in [first, second] {
        let (clean_exit, logs) = server.terminate().await;
        assert!(clean_exit, "{logs}");
    }
    drop(database);
}
