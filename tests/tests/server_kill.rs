//! The server process SIGKILLed in the middle of a large push, again and again.
//!
//! Proves: whatever moment the server dies at (device preparing a batch, server inside the
//! push transaction, reply on its way), after a restart on the same data directory everything
//! the device saw acknowledged is on the server, nothing is there twice, the device's store
//! is sound, and a final sync completes. Push batches are capped at 500 operations, so the
//! backlog crosses several requests and kills land between and inside them.

use fieldcase_core::protocol::MAX_PUSH_OPS;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::RecordId;
use fieldcase_e2e::{admin, DeviceOptions, ServerProcess, TestDevice};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const AGENCY: &str = "iom_uga";
/// The device's backlog before the first sync: four full push batches.
const BACKLOG: usize = 2_000;
/// Cases recorded between kills, so every round has pushes to make.
const CASES_PER_ROUND: usize = 100;
const ROUNDS: usize = 6;
const SIGKILL: i32 = 9;
/// Longest wait, after the chosen progress point, before the kill.
const MAX_JITTER: Duration = Duration::from_millis(1_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_push_loses_and_doubles_nothing() {
    kill_mid_push_rounds(None).await;
}

/// The same on PostgreSQL: a killed process's open transactions are rolled back by the
/// database, what it committed stays (a fresh database on the `FIELDCASE_TEST_DATABASE_URL`
/// server; see `scripts/with-postgres.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_server_on_postgresql_mid_push_loses_and_doubles_nothing() {
    use fieldcase_server::storage::postgres::testing::TempDatabase;
    let database = tokio::task::spawn_blocking(TempDatabase::create)
        .await
        .unwrap();
    kill_mid_push_rounds(Some(database.url())).await;
    drop(database);
}

async fn kill_mid_push_rounds(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut server =
        ServerProcess::start_on_database(SERVER_BIN, dir.path().join("server"), database_url)
            .await
            .unwrap();
    let admin = admin(&server);
    let url = server.base_url();
    admin.create_agency(AGENCY, "IOM Uganda").await.unwrap();
    let enroll = |name: &'static str| {
        TestDevice::enroll(
            &admin,
            &url,
            &url,
            AGENCY,
            dir.path(),
            name,
            DeviceOptions::default(),
        )
    };
    let device = Arc::new(enroll("field").await.unwrap());
    let checker = enroll("checker").await.unwrap();

    let mut samples = SampleCases::new(21);
    let mut created: Vec<RecordId> = device.create_sample_cases(&mut samples, BACKLOG);
    let mut rng = StdRng::seed_from_u64(1_234);
    let mut interrupted = 0;
    for round in 0..ROUNDS {
        if round > 0 {
            created.extend(device.create_sample_cases(&mut samples, CASES_PER_ROUND));
        }
        let acked_before = device.last_seq() - device.status().pending_ops;
        let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(0u64);
        let sync = tokio::spawn({
            let device = device.clone();
            async move {
                device
                    .sync_with_progress(&move |p| {
                        let _ = progress_tx.send(p.pushed);
                    })
                    .await
            }
        });
        let server_before = server_last_seq(&admin, &device).await;
        let moment = if round % 2 == 0 {
            // The worst moment: the server has committed a batch whose acknowledgement the
            // device has not applied yet, so the reply is lost and the batch is sent again.
            loop {
                let seen = server_before.max(acked_before + *progress_rx.borrow());
                if sync.is_finished() || server_last_seq(&admin, &device).await > seen {
                    break "right after a commit".to_owned();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        } else {
            // Anywhere: after 0 or 1 acknowledged batches, plus a random wait.
            let after_batches = rng.gen_range(0..2u64);
            let jitter = rng.gen_range(Duration::ZERO..MAX_JITTER);
            let target = after_batches * MAX_PUSH_OPS as u64;
            // Ends when the target is reached or the sync finished (the sender is dropped).
            let _ = progress_rx.wait_for(|pushed| *pushed >= target).await;
            tokio::time::sleep(jitter).await;
            format!("{jitter:?} after {after_batches} batches")
        };
        let status = server.kill().unwrap();
        assert_eq!(
            status.signal(),
            Some(SIGKILL),
            "the server died by SIGKILL: {status}"
        );
        let result = sync.await.unwrap();
        if result.is_err() {
            interrupted += 1;
        }
        server.restart().await.unwrap();

        // The device's store is sound, and what it saw acknowledged is on the server.
        device.store().integrity_check().unwrap();
        let pending = device.status().pending_ops;
        let acked = device.last_seq() - pending;
        let on_server = server_last_seq(&admin, &device).await;
        eprintln!(
            "round {round}: killed {moment}; sync {}; \
             device made {}, saw {acked} acked; server processed {on_server}",
            if result.is_ok() {
                "had finished"
            } else {
                "interrupted"
            },
            device.last_seq()
        );
        assert!(
            on_server >= acked && on_server <= device.last_seq(),
            "round {round}: device acked {acked}, server holds {on_server}"
        );
        // A colleague's device pulls exactly the operations the server processed: each
        // created one case, so it holds exactly that many, nothing twice.
        checker.sync().await.unwrap();
        assert_eq!(
            checker.count_cases(),
            on_server,
            "round {round}: the log holds each processed operation once"
        );
    }
    assert!(interrupted > 0, "at least one kill hit a sync in flight");

    // A final sync completes, and everything is on the server exactly once.
    device.sync().await.unwrap();
    let status = device.status();
    assert!(status.synced && status.pending_ops == 0, "{status:?}");
    assert_eq!(server_last_seq(&admin, &device).await, device.last_seq());
    assert_eq!(device.last_seq(), created.len() as u64);

    let fresh = enroll("fresh").await.unwrap();
    let pulled = fresh.sync().await.unwrap().pulled;
    assert_eq!(
        pulled,
        created.len() as u64,
        "each operation is in the log once"
    );
    let expected: BTreeSet<RecordId> = created.iter().copied().collect();
    assert_eq!(fresh.case_ids(), expected);
    let differences = device.snapshot().differences(&fresh.snapshot());
    assert!(differences.is_empty(), "{differences:?}");
    checker.sync().await.unwrap();
    assert_eq!(checker.count_cases(), created.len() as u64);
}

async fn server_last_seq(
    admin: &fieldcase_server::admin_client::AdminClient,
    device: &TestDevice,
) -> u64 {
    admin
        .list_devices()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == device.device_id())
        .expect("the device is listed")
        .last_seq
}
