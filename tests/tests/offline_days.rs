//! Three agencies, two devices each, several days of offline work, then everyone syncs.
//!
//! Proves, against the real server process: every device of an agency ends with exactly the
//! same cases, fields and conflicts; a field edited on both devices of an agency between
//! syncs keeps the later write and a conflict entry holding the earlier one, on both
//! devices; no device holds anything of another agency; nothing is left pending.

use fieldcase_core::model::Fields;
use fieldcase_core::sample::SampleCases;
use fieldcase_core::RecordId;
use fieldcase_e2e::{admin, DeviceOptions, ServerProcess, TestDevice};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const AGENCIES: [&str; 3] = ["iom_uga", "shelter_kla", "clinic_nbo"];
const DEVICES_PER_AGENCY: usize = 2;
/// Days without a network after the first sync.
const OFFLINE_DAYS: usize = 3;
const CASES_PER_DAY: usize = 6;
const EDITS_PER_DAY: usize = 8;

/// A plausible edit of one field a caseworker changes during follow-up.
fn random_edit(rng: &mut StdRng) -> Fields {
    let (key, value) = match rng.gen_range(0..5) {
        0 => (
            "risk_level",
            json!(["low", "medium", "high"].choose(rng).unwrap()),
        ),
        1 => ("status", json!(["open", "active"].choose(rng).unwrap())),
        2 => (
            "phone",
            json!(format!(
                "+256 7{:02} {:06}",
                rng.gen_range(0..100),
                rng.gen_range(0..1_000_000)
            )),
        ),
        3 => (
            "given_name",
            json!(["Amina", "Grace", "Yusuf", "Halima", "Dawit"]
                .choose(rng)
                .unwrap()),
        ),
        _ => (
            "family_name",
            json!(["Nakato", "Okafor", "Mensah", "Tesfaye"]
                .choose(rng)
                .unwrap()),
        ),
    };
    [(key.to_owned(), value)].into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agencies_converge_after_days_offline_and_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    let admin = admin(&server);
    let url = server.base_url();
    let mut devices: Vec<TestDevice> = Vec::new();
    for agency in AGENCIES {
        admin.create_agency(agency, agency).await.unwrap();
        for n in 0..DEVICES_PER_AGENCY {
            let name = format!("{agency}-{n}");
            let device = TestDevice::enroll(
                &admin,
                &url,
                &url,
                agency,
                dir.path(),
                &name,
                DeviceOptions::default(),
            )
            .await
            .unwrap();
            devices.push(device);
        }
    }
    let mut rng = StdRng::seed_from_u64(20_260_101);
    let mut samples = SampleCases::new(7);
    let mut created: BTreeMap<&str, BTreeSet<RecordId>> = BTreeMap::new();

    // Day 0: everyone records cases and syncs twice, so both devices of an agency hold them.
    for device in &devices {
        let ids = device.create_sample_cases(&mut samples, CASES_PER_DAY);
        created.entry(agency_of(device)).or_default().extend(ids);
    }
    for _ in 0..2 {
        for device in &devices {
            device.sync().await.unwrap();
        }
    }
    // One case per agency that both its devices will edit concurrently at the end; random
    // edits leave it alone so the conflict is exactly the one made below.
    let contested: BTreeMap<&str, RecordId> = AGENCIES
        .iter()
        .map(|agency| {
            let first = devices.iter().find(|d| d.agency == *agency).unwrap();
            (*agency, *first.case_ids().iter().next().unwrap())
        })
        .collect();

    // Days offline: new cases, and edits to any case the device knows (its own and its
    // colleague's), so the same fields change on both devices between syncs.
    for _day in 0..OFFLINE_DAYS {
        for device in &devices {
            let ids = device.create_sample_cases(&mut samples, CASES_PER_DAY);
            created.entry(agency_of(device)).or_default().extend(ids);
            let known: Vec<RecordId> = device
                .case_ids()
                .into_iter()
                .filter(|id| *id != contested[agency_of(device)])
                .collect();
            for _ in 0..EDITS_PER_DAY {
                let id = known.choose(&mut rng).unwrap();
                device.update_case(id, random_edit(&mut rng));
            }
        }
    }
    // The same field of the same case, edited on both devices of each agency.
    let mut contested_writes: BTreeMap<&str, Vec<(Value, fieldcase_core::Hlc)>> = BTreeMap::new();
    for (n, device) in devices.iter().enumerate() {
        let agency = agency_of(device);
        let value = json!(format!("Contested{}", n % DEVICES_PER_AGENCY));
        let op = device
            .update_case(
                &contested[agency],
                [("given_name".to_owned(), value.clone())].into(),
            )
            .expect("the edit changes the field");
        contested_writes
            .entry(agency)
            .or_default()
            .push((value, op.hlc));
    }

    // The network is back: everyone syncs, twice, to settle.
    for _ in 0..2 {
        for device in &devices {
            device.sync().await.unwrap();
        }
    }

    let server_devices = admin.list_devices().await.unwrap();
    for agency in AGENCIES {
        let ours: Vec<&TestDevice> = devices.iter().filter(|d| d.agency == agency).collect();
        let reference = ours[0].snapshot();
        for device in &ours {
            let snapshot = device.snapshot();
            let differences = reference.differences(&snapshot);
            assert!(
                differences.is_empty(),
                "{} differs from {}: {differences:?}",
                device.name,
                ours[0].name
            );
            // Exactly this agency's cases: by id and by count, and all owned by it.
            assert_eq!(
                snapshot.cases.keys().copied().collect::<BTreeSet<_>>(),
                created[agency],
                "{} holds exactly its agency's cases",
                device.name
            );
            assert_eq!(device.count_cases(), created[agency].len() as u64);
            for (other, ids) in &created {
                if *other != agency {
                    assert!(
                        ids.iter().all(|id| !snapshot.cases.contains_key(id)),
                        "{} holds a case of {other}",
                        device.name
                    );
                }
            }
            assert!(snapshot.cases.values().all(|c| c.owner_agency == agency));

            // The concurrent edit: the later write won, the earlier one is a conflict entry.
            let writes = &contested_writes[agency];
            let winner = writes.iter().max_by_key(|(_, hlc)| *hlc).unwrap();
            let loser = writes.iter().min_by_key(|(_, hlc)| *hlc).unwrap();
            let case = &snapshot.cases[&contested[agency]];
            assert_eq!(case.fields["given_name"], winner.0, "{}", device.name);
            assert!(
                case.conflicts
                    .iter()
                    .any(|c| c.field == "given_name" && c.value == loser.0 && c.hlc == loser.1),
                "{} keeps the losing value as a conflict",
                device.name
            );
            assert!(snapshot.conflicts.contains(&(
                contested[agency],
                "given_name".to_owned(),
                loser.1,
                loser.0.clone()
            )));

            let status = device.status();
            assert_eq!(status.pending_ops, 0, "{}", device.name);
            assert_eq!(status.rejected_ops, 0, "{}", device.name);
            assert!(status.synced, "{}: {:?}", device.name, status.last_error);
            let on_server = server_devices
                .iter()
                .find(|d| d.id == device.device_id())
                .unwrap();
            assert_eq!(on_server.last_seq, device.last_seq(), "{}", device.name);
        }
    }
}

fn agency_of(device: &TestDevice) -> &'static str {
    AGENCIES
        .iter()
        .find(|a| **a == device.agency)
        .copied()
        .unwrap()
}
