//! Keeping the server key out of the data directory (issue 10, item 5): the real
//! `fieldcase serve` started with the key from a file elsewhere, from `FIELDCASE_SERVER_KEY`,
//! or from a `--key-command`, seals its database with that key and leaves no key in the data
//! directory; a key of the wrong length, a failing command or two sources at once stop it
//! before it touches the database, with an error that never shows the key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::SqliteStorage;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_fieldcase");
/// A guard against a hung child, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);
/// The key every test hands the server.
const KEY: [u8; 32] = [
    0x3a, 0x91, 0x5c, 0x07, 0xee, 0x12, 0x48, 0xb6, 0x7d, 0x20, 0x9f, 0xc4, 0x51, 0x0a, 0x63, 0xd8,
    0x2e, 0x84, 0xf1, 0x39, 0xa7, 0x5b, 0x16, 0xcc, 0x40, 0x9e, 0x73, 0x28, 0xb1, 0x05, 0xda, 0x6f,
];

/// `fieldcase serve` on an OS-chosen port with nothing inherited that names a key.
fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "FIELDCASE_SERVER_KEY",
        "FIELDCASE_SERVER_KEY_FILE",
        "FIELDCASE_SERVER_KEY_COMMAND",
        "FIELDCASE_DATA_DIR",
        "FIELDCASE_LISTEN",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts the server, checks it answers, stops it with SIGTERM; returns everything it printed.
async fn serve_once(mut cmd: Command) -> String {
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let first = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .expect("serve prints its address")
        .unwrap();
    let Some(first) = first else {
        let _ = child.wait().await;
        panic!("the server did not start: {}", stderr.await.unwrap());
    };
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert!(health.status().is_success());
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    while let Ok(Some(line)) = stdout.next_line().await {
        rest.push_str(&line);
    }
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the server stops on SIGTERM")
        .unwrap();
    assert!(status.success());
    format!("{first}\n{rest}\n{}", stderr.await.unwrap())
}

/// Runs a start that must fail; returns what it printed on stderr.
async fn refused(mut cmd: Command) -> String {
    let out = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("a refused start ends")
        .unwrap();
    assert!(
        !out.status.success(),
        "started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every form the key could leak in.
fn key_forms(key: &[u8]) -> Vec<Vec<u8>> {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        key.to_vec(),
        STANDARD.encode(key).into_bytes(),
        STANDARD
            .encode(key)
            .trim_end_matches('=')
            .as_bytes()
            .to_vec(),
        hex.into_bytes(),
    ]
}

fn contains_key(bytes: &[u8], key: &[u8]) -> bool {
    key_forms(key)
        .iter()
        .any(|form| bytes.windows(form.len()).any(|w| w == form.as_slice()))
}

/// The data directory holds no key: no `server.key`, no file with the key in any form.
fn assert_no_key_in(data_dir: &Path) {
    assert!(!data_dir.join("server.key").exists(), "server.key written");
    let mut files = 0;
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(!contains_key(&bytes, &KEY), "the key is in {path:?}");
        }
    }
    assert!(files > 0, "the server wrote its database");
}

/// The database opens with [`KEY`] and with no other: the server sealed with the key given.
fn assert_sealed_with_key(data_dir: &Path) {
    let db = data_dir.join("fieldcase.db");
    drop(SqliteStorage::open(&db, Sealer::from_key(&KEY)).expect("the given key opens it"));
    assert!(SqliteStorage::open(&db, Sealer::from_key(&[1; 32])).is_err());
}

fn key_file_elsewhere(dir: &Path, key: &[u8]) -> std::path::PathBuf {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let path = keys.join("fieldcase.key");
    std::fs::write(&path, key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

#[tokio::test]
async fn a_key_file_outside_the_data_dir_seals_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = serve_command(&data);
    cmd.arg("--key-file")
        .arg(key_file_elsewhere(dir.path(), &KEY));
    let printed = serve_once(cmd).await;
    assert!(!contains_key(printed.as_bytes(), &KEY), "{printed}");
    assert_no_key_in(&data);
    assert_sealed_with_key(&data);
}

#[tokio::test]
async fn a_key_from_the_environment_seals_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = serve_command(&data);
    cmd.env("FIELDCASE_SERVER_KEY", STANDARD.encode(KEY));
    let printed = serve_once(cmd).await;
    assert!(!contains_key(printed.as_bytes(), &KEY), "{printed}");
    assert_no_key_in(&data);
    assert_sealed_with_key(&data);
}

#[tokio::test]
async fn a_key_from_a_command_seals_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A stand-in for a KMS client: prints the key, base64, from a file it alone reads.
    let wrapped = dir.path().join("kms-response");
    std::fs::write(&wrapped, format!("{}\n", STANDARD.encode(KEY))).unwrap();
    let mut cmd = serve_command(&data);
    cmd.arg("--key-command")
        .arg(format!("cat '{}'", wrapped.display()));
    let printed = serve_once(cmd).await;
    assert!(!contains_key(printed.as_bytes(), &KEY), "{printed}");
    assert_no_key_in(&data);
    assert_sealed_with_key(&data);

    // The next start may take the same key another way: the command's raw bytes.
    std::fs::write(&wrapped, KEY).unwrap();
    let mut cmd = serve_command(&data);
    cmd.arg("--key-command")
        .arg(format!("cat '{}'", wrapped.display()));
    serve_once(cmd).await;
    assert_no_key_in(&data);
}

#[tokio::test]
async fn bad_keys_and_ambiguous_sources_stop_the_start_before_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let short = &KEY[..31];

    let mut cmd = serve_command(&data);
    cmd.env("FIELDCASE_SERVER_KEY", STANDARD.encode(short));
    let err = refused(cmd).await;
    assert!(err.contains("must be exactly 32 bytes, it is 31"), "{err}");
    assert!(!contains_key(err.as_bytes(), short), "{err}");

    let mut cmd = serve_command(&data);
    cmd.env("FIELDCASE_SERVER_KEY", "not a key at all");
    let err = refused(cmd).await;
    assert!(err.contains("not base64"), "{err}");
    assert!(!err.contains("not a key at all"), "{err}");

    let mut cmd = serve_command(&data);
    cmd.arg("--key-file")
        .arg(key_file_elsewhere(dir.path(), short));
    let err = refused(cmd).await;
    assert!(err.contains("exactly 32 bytes, it holds 31"), "{err}");

    let mut cmd = serve_command(&data);
    cmd.arg("--key-command").arg("head -c 16 /dev/urandom");
    let err = refused(cmd).await;
    assert!(err.contains("key command"), "{err}");

    let mut cmd = serve_command(&data);
    cmd.arg("--key-command").arg("exit 3");
    let err = refused(cmd).await;
    assert!(
        err.contains("key command failed") && err.contains('3'),
        "{err}"
    );

    let mut cmd = serve_command(&data);
    cmd.env("FIELDCASE_SERVER_KEY", STANDARD.encode(KEY))
        .arg("--key-file")
        .arg(key_file_elsewhere(dir.path(), &KEY));
    let err = refused(cmd).await;
    assert!(err.contains("one way"), "{err}");
    assert!(!contains_key(err.as_bytes(), &KEY), "{err}");

    assert!(
        !data.join("fieldcase.db").exists() && !data.join("server.key").exists(),
        "a refused start creates neither a database nor a key"
    );
}
