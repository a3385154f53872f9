//! A device process SIGKILLed in the middle of pulling a large backlog, again and again.
//!
//! The device runs as its own process (`fieldcase-e2e-device`: open the store, one
//! `sync_once` with pages of 50 operations). The test kills it after a varying number of
//! pages plus a random wait, so kills land between page writes and inside them. Proves: after
//! every kill the store opens and passes SQLite's integrity check; the cases present are
//! exactly a prefix of the server's log (each page is applied with its cursor in one
//! transaction: no page skipped, none half-applied) and each is identical to the source's;
//! and an uninterrupted sync afterwards brings every case.

use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::Durability;
use fieldcase_core::RecordId;
use fieldcase_e2e::{admin, DeviceOptions, ServerProcess, TestDevice, PASSPHRASE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const DEVICE_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-device");
const AGENCY: &str = "iom_ken";
/// 24 pages of 50 for the device process to pull.
const BACKLOG: usize = 1_200;
const ROUNDS: usize = 8;
const SIGKILL: i32 = 9;
/// Longest wait after the chosen page before the kill: about one page's request and write
/// in a debug build, so kills land anywhere in the next page.
const MAX_JITTER: Duration = Duration::from_millis(400);
/// A guard against a hung child, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);

/// Phones write with full durability; the device process does too.
fn target_options() -> DeviceOptions {
    DeviceOptions {
        durability: Durability::Full,
        pull_limit: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_device_mid_pull_leaves_a_sound_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let admin = admin(&server);
    let url = server.base_url();
    admin.create_agency(AGENCY, "IOM Kenya").await.unwrap();
    let source = TestDevice::enroll(
        &admin,
        &url,
        &url,
        AGENCY,
        dir.path(),
        "source",
        DeviceOptions::default(),
    )
    .await
    .unwrap();
    // Creation order is sequence order is log order: the order the target pulls in.
    let created: Vec<RecordId> = source.create_sample_cases(&mut SampleCases::new(33), BACKLOG);
    source.sync().await.unwrap();
    let expected = source.snapshot();
    let target = TestDevice::enroll(
        &admin,
        &url,
        &url,
        AGENCY,
        dir.path(),
        "target",
        target_options(),
    )
    .await
    .unwrap();
    let store_path = target.close();

    let mut rng = StdRng::seed_from_u64(77);
    let mut previous = 0usize;
    let mut kills = 0;
    for round in 0..ROUNDS {
        let pages = rng.gen_range(1..=4);
        let jitter = rng.gen_range(Duration::ZERO..MAX_JITTER);
        let mut child = tokio::process::Command::new(DEVICE_BIN)
            .env("FIELDCASE_E2E_STORE", &store_path)
            .env("FIELDCASE_E2E_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join(format!("device-{round}.err"))).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut applied_pages = 0;
        let finished_alone = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("done") {
                    return true;
                }
                let pulled = line
                    .strip_prefix("progress pulled=")
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                if pulled > 0 {
                    applied_pages += 1;
                    if applied_pages == pages {
                        return false;
                    }
                }
            }
            true
        })
        .await
        .expect("the device process makes progress");
        if !finished_alone {
            tokio::time::sleep(jitter).await;
            // tokio's start_kill sends SIGKILL on Unix.
            let _ = child.start_kill();
        }
        let status = child.wait().await.unwrap();
        let killed = status.signal() == Some(SIGKILL);
        if killed {
            kills += 1;
        } else {
            assert!(
                status.success(),
                "round {round}: the device process failed: {status}"
            );
        }

        // The app starts again: the store opens, is sound, and is consistent.
        let device = TestDevice::open(&store_path, "target", 0, target_options()).unwrap();
        device.store().integrity_check().unwrap();
        let snapshot = device.snapshot();
        let count = snapshot.cases.len();
        let cursor = device.store().cursor().unwrap();
        eprintln!(
            "round {round}: after {pages} pages + {jitter:?}, killed: {killed}; {count} cases"
        );
        assert!(
            count >= previous,
            "round {round}: applied pages never go away"
        );
        assert_eq!(
            cursor.is_some(),
            count > 0,
            "round {round}: the cursor moves with its page"
        );
        let prefix: BTreeSet<RecordId> = created[..count].iter().copied().collect();
        assert_eq!(
            snapshot.cases.keys().copied().collect::<BTreeSet<_>>(),
            prefix,
            "round {round}: the cases present are exactly the first {count} of the log"
        );
        for (id, case) in &snapshot.cases {
            assert!(
                case == &expected.cases[id],
                "round {round}: case {id} is complete"
            );
        }
        previous = count;
        device.close();
        if !killed {
            break;
        }
    }
    assert!(kills > 0, "at least one device process was killed mid-pull");

    // An uninterrupted sync completes the pull.
    let device = TestDevice::open(&store_path, "target", 0, target_options()).unwrap();
    device.sync().await.unwrap();
    let differences = expected.differences(&device.snapshot());
    assert!(differences.is_empty(), "{differences:?}");
    assert_eq!(device.count_cases(), BACKLOG as u64);
    assert!(device.status().synced);
}
