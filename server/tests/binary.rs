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
    let mut child = command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
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
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: None,
        pull_limit: None,
        commands: vec![],
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
        fields: [(
            "given_name".to_owned(),
            FieldChange {
                value: json!(MARKER),
                seen: vec![],
            },
        )]
        .into(),
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
