//! Devices syncing through a network that drops, truncates, resets and delays connections.
//!
//! Proves: with requests and replies lost in either direction at any byte, many rounds of
//! `sync_with_retry` (failures expected) followed by clean syncs leave every device of an
//! agency with the same state, every case exactly once, and the server's log with every
//! operation exactly once (each device's `last_seq` on the server is its last sequence, and a
//! fresh device pulls exactly as many operations as were made). And a device on an emulated
//! 2G link (400 kbit/s, 800 ms round trip) syncs like any other.

use fieldcase_core::sample::SampleCases;
use fieldcase_core::RecordId;
use fieldcase_e2e::{
    admin, fast_retry, DeviceOptions, FaultProxy, LinkProfile, ProxyConfig, ServerProcess,
    TestDevice,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const AGENCIES: [&str; 2] = ["iom_uga", "iom_ken"];
const DEVICES_PER_AGENCY: usize = 2;
const ROUNDS: usize = 10;
const CASES_PER_ROUND: usize = 20;
const EDITS_PER_ROUND: usize = 10;
/// Share of connections that get a fault while faults are on.
const FAULT_PROBABILITY: f64 = 0.5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_through_a_faulty_network_converge_without_losing_or_doubling() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.addr(), ProxyConfig::faulty(42, FAULT_PROBABILITY))
        .await
        .unwrap();
    let admin = admin(&server);
    let mut devices = Vec::new();
    for agency in AGENCIES {
        admin.create_agency(agency, agency).await.unwrap();
        for n in 0..DEVICES_PER_AGENCY {
            let device = TestDevice::enroll(
                &admin,
                &server.base_url(),
                &proxy.base_url(),
                agency,
                dir.path(),
                &format!("{agency}-{n}"),
                // Small pages: more requests per sync, so more of them meet a fault.
                DeviceOptions {
                    pull_limit: Some(30),
                    ..DeviceOptions::default()
                },
            )
            .await
            .unwrap();
            devices.push(Arc::new(device));
        }
    }

    let mut rng = StdRng::seed_from_u64(99);
    let mut samples = SampleCases::new(3);
    let mut created: BTreeMap<String, BTreeSet<RecordId>> = BTreeMap::new();
    let (mut failed_syncs, mut requests) = (0, 0);
    for _ in 0..ROUNDS {
        // Cases of the agency from earlier rounds: on every device whose last sync went through.
        let earlier = created.clone();
        for device in &devices {
            let ids = device.create_sample_cases(&mut samples, CASES_PER_ROUND);
            created
                .entry(device.agency.clone())
                .or_default()
                .extend(ids);
            let known: Vec<RecordId> = earlier
                .get(&device.agency)
                .map(|ids| ids.iter().copied().collect())
                .unwrap_or_default();
            for _ in 0..EDITS_PER_ROUND {
                let Some(id) = known.choose(&mut rng) else {
                    break;
                };
                if !device.has_case(id) {
                    continue; // its last sync gave up before pulling this one
                }
                let level = ["low", "medium", "high"].choose(&mut rng).unwrap();
                let phone = format!(
                    "+254 7{:02} {:06}",
                    rng.gen_range(0..100),
                    rng.gen_range(0..1_000_000)
                );
                let changes = if rng.gen_bool(0.5) {
                    [("risk_level".to_owned(), json!(level))].into()
                } else {
                    [("phone".to_owned(), json!(phone))].into()
                };
                device.update_case(id, changes);
            }
        }
        // Everyone syncs at once; failures are expected and retried, or left for next round.
        let mut syncs = tokio::task::JoinSet::new();
        for device in &devices {
            let device = device.clone();
            syncs.spawn(async move { device.sync_with_retry(&fast_retry(4)).await });
        }
        while let Some(result) = syncs.join_next().await {
            match result.unwrap() {
                Ok(outcome) => requests += outcome.requests,
                Err(_) => failed_syncs += 1,
            }
        }
    }

    let stats = proxy.stats();
    eprintln!(
        "faults: {stats:?}; {requests} requests in successful syncs; {failed_syncs} syncs gave up"
    );
    assert!(
        stats.struck.values().sum::<u64>() > 0,
        "the network really failed: {stats:?} ({failed_syncs} syncs gave up)"
    );

    // The network heals: two clean rounds must succeed and settle everything.
    proxy.set_faults_enabled(false);
    for _ in 0..2 {
        for device in &devices {
            device.sync().await.expect("a sync without faults succeeds");
        }
    }

    let server_devices = admin.list_devices().await.unwrap();
    for agency in AGENCIES {
        let ours: Vec<&TestDevice> = devices
            .iter()
            .filter(|d| d.agency == agency)
            .map(|d| &**d)
            .collect();
        let reference = ours[0].snapshot();
        for device in &ours {
            let snapshot = device.snapshot();
            let differences = reference.differences(&snapshot);
            assert!(differences.is_empty(), "{}: {differences:?}", device.name);
            assert_eq!(
                device.count_cases(),
                created[agency].len() as u64,
                "{}: every case exactly once",
                device.name
            );
            assert_eq!(
                snapshot.cases.keys().copied().collect::<BTreeSet<_>>(),
                created[agency]
            );
            let status = device.status();
            assert_eq!(
                (status.pending_ops, status.rejected_ops),
                (0, 0),
                "{}",
                device.name
            );
            assert!(status.synced, "{}: {:?}", device.name, status.last_error);
            let on_server = server_devices
                .iter()
                .find(|d| d.id == device.device_id())
                .unwrap();
            assert_eq!(
                on_server.last_seq,
                device.last_seq(),
                "{}: the server processed every operation, none beyond",
                device.name
            );
        }

        // A fresh device of the agency pulls the whole log: each operation exactly once.
        let fresh = TestDevice::enroll(
            &admin,
            &server.base_url(),
            &server.base_url(),
            agency,
            dir.path(),
            &format!("{agency}-fresh"),
            DeviceOptions::default(),
        )
        .await
        .unwrap();
        let pulled = fresh.sync().await.unwrap().pulled;
        let made: u64 = ours.iter().map(|d| d.last_seq()).sum();
        assert_eq!(pulled, made, "{agency}: the log holds each operation once");
        assert_eq!(fresh.count_cases(), created[agency].len() as u64);
        let differences = reference.differences(&fresh.snapshot());
        assert!(
            differences.is_empty(),
            "fresh {agency} device: {differences:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_a_2g_link_syncs_a_day_of_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let link = ProxyConfig {
        link: Some(LinkProfile::TWO_G),
        ..ProxyConfig::pass_through()
    };
    let proxy = FaultProxy::start(server.addr(), link).await.unwrap();
    let admin = admin(&server);
    admin
        .create_agency("iom_eth", "IOM Ethiopia")
        .await
        .unwrap();
    let (server_url, proxy_url) = (server.base_url(), proxy.base_url());
    let enroll = |name: &'static str| {
        TestDevice::enroll(
            &admin,
            &server_url,
            &proxy_url,
            "iom_eth",
            dir.path(),
            name,
            DeviceOptions::default(),
        )
    };
    let field = enroll("field").await.unwrap();
    let office = enroll("office").await.unwrap();

    let ids = field.create_sample_cases(&mut SampleCases::new(8), 30);
    let pushed = field.sync().await.unwrap();
    assert_eq!(pushed.pushed, 30);
    let pulled = office.sync().await.unwrap();
    assert_eq!(pulled.pulled, 30);
    assert_eq!(office.case_ids(), ids.iter().copied().collect());
    assert!(field.snapshot().differences(&office.snapshot()).is_empty());
    assert!(field.status().synced && office.status().synced);
}
