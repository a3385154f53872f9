//! SIGKILL in the middle of saves and bulk imports: the store opens, passes SQLite's
//! integrity check, and holds every save that returned success.
//!
//! The test re-runs this test binary as a child that writes in a loop and prints the id of
//! every save once it has returned `Ok`; the parent kills it at varying moments.

mod common;
use common::*;
use fieldcase_core::import::ImportOptions;
use fieldcase_core::store::Store;
use fieldcase_core::RecordId;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "FIELDCASE_CRASH_CHILD";

/// The child's workload; does nothing unless run as the child.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, path) = spec.split_once(':').unwrap();
    let path = std::path::PathBuf::from(path);
    let mut store = if path.exists() {
        Store::open(&path, PASSPHRASE, None, &options()).unwrap()
    } else {
        Store::create(&path, PASSPHRASE, None, identity(1, "iom_uga"), &options()).unwrap()
    };
    let stdout = std::io::stdout();
    for i in 0.. {
        match mode {
            "save" => {
                let id = store
                    .create_case(&case(
                        &format!("P{i}"),
                        "Crash",
                        &format!("+256 772 {i:06}"),
                        &format!("S{i}"),
                    ))
                    .unwrap();
                writeln!(stdout.lock(), "saved {id}").unwrap();
            }
            _ => {
                let lines: String = (0..100)
                    .map(|j| {
                        let mut c =
                            case_json(&format!("I{i}x{j}"), "Import", "+256 772 000000", "X1");
                        c["id"] = RecordId::new().to_string().into();
                        format!("{c}\n")
                    })
                    .collect();
                let ids: Vec<String> = lines
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect();
                store
                    .import_jsonl(
                        lines.as_bytes(),
                        &ImportOptions {
                            batch_size: 25,
                            ..Default::default()
                        },
                        &mut |_| {},
                    )
                    .unwrap();
                let mut out = stdout.lock();
                for id in ids {
                    writeln!(out, "saved {id}").unwrap();
                }
            }
        }
    }
}

fn kill_in_a_loop(mode: &str, rounds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "crash");
    let mut acknowledged: Vec<RecordId> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{mode}:{}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack, got_first_ack) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut saved = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line
                    .strip_prefix("saved ")
                    .and_then(|id| id.parse::<RecordId>().ok())
                {
                    if saved.is_empty() {
                        let _ = first_ack.send(());
                    }
                    saved.push(id);
                }
            }
            saved
        });
        // Kill only once the child has made progress (however loaded the machine is), then
        // at a moment that varies across rounds, most likely in the middle of a write.
        got_first_ack
            .recv_timeout(Duration::from_secs(120))
            .expect("the child acknowledged a save");
        std::thread::sleep(Duration::from_millis(u64::from(round) * 53 % 250));
        sigkill(child.id());
        child.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());

        let store =
            Store::open(&path, PASSPHRASE, None, &options()).expect("store opens after a kill");
        store
            .integrity_check()
            .expect("integrity check passes after a kill");
        for id in &acknowledged {
            store
                .get_case(id)
                .unwrap_or_else(|e| panic!("round {round}: acknowledged save {id} lost: {e}"));
        }
        let pending = store.status().unwrap().pending_ops;
        assert!(
            pending >= acknowledged.len() as u64,
            "every save has its outbox entry"
        );
        store.close().unwrap();
    }
}

/// SIGKILL through the system's `kill` utility, which keeps the test free of unsafe code.
fn sigkill(pid: u32) {
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn killed_during_saves_loses_no_acknowledged_save() {
    kill_in_a_loop("save", 6);
}

#[test]
fn killed_during_bulk_import_loses_no_acknowledged_batch() {
    kill_in_a_loop("import", 6);
}
