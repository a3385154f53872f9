//! Referrals and transfers end to end: core's encrypted store and sync client on devices of
//! three agencies, against the real server on loopback, plus raw HTTP where a hostile or
//! replaying device has to be played by hand.
//!
//! Agencies: `iom_uga` (A, the sender), `iom_eth` (B, the receiver), `ngo_x` (C, a third).

mod common;

use common::{enrolled_device, Device};
use fieldcase_core::model::{Case, Date, Fields, Note, Service, ServiceType};
use fieldcase_core::protocol::{
    decode_body, encode_body, CommandOutcome, CommandRejection, ReferralCommand, ReferralTimeline,
    RejectReason, SyncRequest, SyncResponse, CONTENT_TYPE, PROTOCOL_VERSION,
};
use fieldcase_core::referral::{
    ReferralStatus, SharingError, Transition, TransitionError, Urgency,
};
use fieldcase_core::store::{NewReferral, SearchQuery, StoreError};
use fieldcase_core::{AgencyCode, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::{AuditEvent, Storage};
use fieldcase_server::{RunningServer, Server, ServerConfig};
use serde_json::{json, Value};
use std::path::Path;

const A: &str = "iom_uga";
const B: &str = "iom_eth";
const C: &str = "ngo_x";

/// Values that must never reach an agency the consent does not name.
const NAME: &str = "Zuleikamarker";
const FAMILY: &str = "Okellomarker";
const PHONE: &str = "+256 771 424242";
const NARRATIVE: &str = "narrative-marker-7731";
const MARKERS: [&str; 5] = [NAME, FAMILY, "424242", NARRATIVE, "zuleikamarker"];

struct Net {
    server: RunningServer,
    admin: AdminClient,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

async fn network() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.base_url, server.admin_token().unwrap()).unwrap();
    for (code, name) in [(A, "IOM Uganda"), (B, "IOM Ethiopia"), (C, "NGO X")] {
        admin.create_agency(code, name).await.unwrap();
    }
    Net {
        server,
        admin,
        dir,
        http: reqwest::Client::new(),
    }
}

async fn device(net: &Net, agency: &str, name: &str) -> Device {
    enrolled_device(
        &net.server.base_url,
        &net.admin,
        agency,
        net.dir.path(),
        name,
    )
    .await
}

/// One raw sync, as a device that does not go through the store would send it. Returns the
/// reply and its decompressed JSON text.
async fn raw_sync(net: &Net, device: &Device, request: &SyncRequest) -> (SyncResponse, String) {
    // The device's own store report: its counter moves on as for any request it sends.
    let mut request = request.clone();
    request.store = Some(device.store().next_store_report().unwrap());
    let response = net
        .http
        .post(format!("{}/v1/sync", net.server.base_url))
        .bearer_auth(&device.credential)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(encode_body(&request))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    (decode_body(&bytes).unwrap(), text)
}

fn request(ops: Vec<Operation>, commands: Vec<ReferralCommand>) -> SyncRequest {
    SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: None,
        pull_limit: None,
        commands,
        handoff: None,
    }
}

async fn timeline(net: &Net, credential: &str, id: &str) -> (reqwest::StatusCode, String) {
    let response = net
        .http
        .get(format!(
            "{}/v1/referrals/{id}/timeline",
            net.server.base_url
        ))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn case_json(sharing: Value) -> Value {
    json!({
        "given_name": NAME, "family_name": FAMILY, "date_of_birth": "1994-05",
        "sex": "female", "nationality": "ETH", "country_of_assistance": "UGA",
        "intake_date": "2026-09-14", "categories": ["victim_of_trafficking"], "programme": "avrr",
        "exploitation_types": ["domestic_servitude"], "trafficking_type": "international",
        "phone": PHONE,
        "consent": {
            "assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"},
            "data_sharing": sharing
        },
        "risk_level": "high", "status": "open",
        "answers": {"narrative": NARRATIVE}
    })
}

fn new_case(device: &Device, sharing: Value) -> RecordId {
    device
        .store()
        .create_case(&Case::from_json(&case_json(sharing)).unwrap())
        .unwrap()
}

fn referral(case_id: RecordId, to: &str, shared: &[&str], transfer: bool) -> NewReferral {
    NewReferral {
        case_id,
        to_agency: AgencyCode::parse(to).unwrap(),
        services: [ServiceType::Shelter, ServiceType::ReturnTravel].into(),
        reason: "Return home next month; needs shelter on arrival".into(),
        urgency: Urgency::High,
        shared_fields: shared.iter().map(|s| (*s).to_owned()).collect(),
        transfer,
        share_back: false,
    }
}

fn refer(device: &Device, new: &NewReferral) -> RecordId {
    device.store().create_referral(new).unwrap()
}

fn no_marker_in(text: &str, what: &str) {
    for marker in MARKERS {
        assert!(
            !text.contains(marker),
            "{marker} leaked into {what}: {text}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn file_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if let Ok(content) = std::fs::read(&file) {
            bytes.extend(content);
        }
    }
    bytes
}

fn set(key: &str, value: Value) -> Fields {
    [(key.to_owned(), value)].into()
}

fn case_edit(device: &Device, seq: u64, case_id: RecordId, key: &str, value: Value) -> Operation {
    Operation {
        op_id: OpId {
            device: device.device_id,
            seq,
        },
        kind: RecordKind::Case,
        record_id: case_id,
        hlc: Hlc {
            wall_ms: fieldcase_core::hlc::now_ms(),
            counter: 0,
            device: device.device_id,
        },
        fields: [(key.to_owned(), FieldChange::fresh(value))].into(),
    }
}

fn command(
    device: &Device,
    seq: u64,
    referral_id: RecordId,
    transition: Transition,
    expected: ReferralStatus,
    reason: Option<&str>,
) -> ReferralCommand {
    ReferralCommand {
        command_id: OpId {
            device: device.device_id,
            seq,
        },
        referral_id,
        transition,
        expected_status: expected,
        reason: reason.map(str::to_owned),
    }
}

/// The server's audit log, read from its database after shutdown.
fn audit_of(data_dir: &Path) -> Vec<fieldcase_server::storage::AuditEntry> {
    let (sealer, _) = Sealer::load_or_create(&data_dir.join("server.key"), false).unwrap();
    let storage = SqliteStorage::open(&data_dir.join("fieldcase.db"), sealer).unwrap();
    storage.audit_log(None).unwrap()
}

#[tokio::test]
async fn a_field_left_out_of_consent_never_reaches_the_receiving_agency() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let c1 = device(&net, C, "c1").await;
    // Consent names no agency: nothing identifying may go anywhere.
    let case_id = new_case(&a1, json!("none"));

    // Refused at creation, naming the field and nothing else.
    let refused = a1
        .store()
        .create_referral(&referral(case_id, B, &["sex", "given_name"], false))
        .unwrap_err();
    assert!(matches!(
        &refused,
        StoreError::Sharing(SharingError::NotConsented { field }) if field == "given_name"
    ));
    no_marker_in(&refused.to_string(), "the refusal");

    let shared = ["sex", "nationality", "risk_level", "programme"];
    let referral_id = refer(&a1, &referral(case_id, B, &shared, false));
    a1.sync().await.unwrap();

    // The pull itself, byte for byte: the shared fields are there, nothing else is.
    let (reply, text) = raw_sync(&net, &b1, &request(vec![], vec![])).await;
    no_marker_in(&text, "B's pull");
    assert!(text.contains("female") && text.contains(&referral_id.to_string()));
    let case_ops: Vec<_> = reply
        .ops
        .iter()
        .filter(|op| op.record_id == case_id)
        .collect();
    assert!(!case_ops.is_empty());
    for op in &case_ops {
        for key in op.fields.keys() {
            assert!(shared.contains(&key.as_str()), "{key} was delivered");
        }
    }

    // In B's store: the shared fields only; search finds nothing; the files hold no marker.
    b1.sync().await.unwrap();
    {
        let store = b1.store();
        let case = store.get_case(&case_id).unwrap();
        let keys: Vec<&str> = case.fields.keys().map(String::as_str).collect();
        let mut expected = shared.to_vec();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(case.owner_agency, A);
        for query in [
            SearchQuery::Name(NAME.into()),
            SearchQuery::Phone(PHONE.into()),
        ] {
            assert!(store.search(&query).unwrap().is_empty());
        }
        let referrals = store.list_referrals().unwrap();
        assert_eq!(referrals.len(), 1);
        assert_eq!(referrals[0].status, ReferralStatus::Sent);
        assert!(referrals[0].confirmed);
    }
    // Errors B can provoke carry no marker: a local edit, a forbidden push, the timeline.
    let local = b1
        .store()
        .update_case(&case_id, set("risk_level", json!("low")))
        .unwrap_err();
    assert!(matches!(local, StoreError::NotOwner { .. }));
    no_marker_in(&format!("{local} {local:?}"), "B's local error");
    let forged = case_edit(&b1, 1, case_id, "given_name", json!("guess"));
    let (reply, text) = raw_sync(&net, &b1, &request(vec![forged], vec![])).await;
    assert_eq!(reply.rejections[0].reason, RejectReason::Forbidden);
    no_marker_in(&text, "B's refused push");
    let (status, body) = timeline(&net, &b1.credential, &referral_id.to_string()).await;
    assert_eq!(status, 200);
    no_marker_in(&body, "the timeline");

    // A later edit reaches B for its shared field only, even when one operation carries both.
    let mut edit = set("risk_level", json!("medium"));
    edit.insert("family_name".into(), json!(format!("{FAMILY}b")));
    a1.store().update_case(&case_id, edit).unwrap();
    a1.store()
        .update_case(&case_id, set("given_name", json!(format!("{NAME}c"))))
        .unwrap();
    a1.sync().await.unwrap();
    let (_, text) = raw_sync(&net, &b1, &request(vec![], vec![])).await;
    no_marker_in(&text, "B's pull after A's edits");
    b1.sync().await.unwrap();
    assert_eq!(
        b1.store().get_case(&case_id).unwrap().fields["risk_level"],
        "medium"
    );
    let bytes = file_bytes(&b1.path);
    for marker in MARKERS {
        assert!(
            !contains(&bytes, marker.as_bytes()),
            "{marker} in B's files"
        );
    }

    // C, not party to anything, sees nothing, and the timeline does not exist for it.
    c1.sync().await.unwrap();
    assert_eq!(c1.store().count_cases(None).unwrap(), 0);
    assert!(c1.store().list_referrals().unwrap().is_empty());
    let (status, body) = timeline(&net, &c1.credential, &referral_id.to_string()).await;
    assert_eq!(status, 404);
    let (unknown, unknown_body) =
        timeline(&net, &c1.credential, &RecordId::new().to_string()).await;
    assert_eq!(
        (unknown, &unknown_body),
        (status, &body),
        "not party = unknown"
    );
    assert_eq!(timeline(&net, &c1.credential, "not-an-id").await.0, 404);

    // Every delivery of A's data to B's device is in the audit log.
    let data_dir = net.server.data_dir.clone();
    net.server.shutdown().await.unwrap();
    let audit = audit_of(&data_dir);
    let delivered: Vec<_> = audit
        .iter()
        .filter(|e| e.event == AuditEvent::SharedDelivery && e.record_id == Some(case_id))
        .collect();
    assert!(delivered.len() >= 2, "{audit:?}");
    assert!(delivered
        .iter()
        .all(|e| e.agency.as_str() == B && e.device == Some(b1.device_id)));
    assert!(audit.iter().any(|e| e.event == AuditEvent::ReferralCreated
        && e.record_id == Some(referral_id)
        && e.agency.as_str() == A));
    assert!(audit
        .iter()
        .any(|e| e.event == AuditEvent::TimelineRead && e.device == Some(b1.device_id)));
    for entry in &audit {
        no_marker_in(&format!("{entry:?}"), "the audit log");
    }
}

#[tokio::test]
async fn a_hostile_device_listing_identifying_fields_gets_them_stripped() {
    let net = network().await;
    let hostile = device(&net, A, "hostile").await;
    let b1 = device(&net, B, "b1").await;
    // The hostile device skips the store's check and writes its operations by hand.
    let case_id = RecordId::new();
    let case_fields = Case::from_json(&case_json(json!("none")))
        .unwrap()
        .to_fields();
    let now = fieldcase_core::hlc::now_ms();
    let hlc = |n: u64| Hlc {
        wall_ms: now + n,
        counter: 0,
        device: hostile.device_id,
    };
    let to_changes = |fields: Fields| {
        fields
            .into_iter()
            .map(|(k, v)| (k, FieldChange::fresh(v)))
            .collect()
    };
    let case_op = Operation {
        op_id: OpId {
            device: hostile.device_id,
            seq: 1,
        },
        kind: RecordKind::Case,
        record_id: case_id,
        hlc: hlc(1),
        fields: to_changes(case_fields),
    };
    let referral_id = RecordId::new();
    let mut referral_fields = fieldcase_core::referral::Referral {
        case_id,
        from_agency: AgencyCode::parse(A).unwrap(),
        to_agency: AgencyCode::parse(B).unwrap(),
        services: [ServiceType::Legal].into(),
        reason: "legal aid".into(),
        urgency: Urgency::Medium,
        shared_fields: ["sex", "given_name", "phone", "answers.narrative"]
            .map(str::to_owned)
            .into(),
        transfer: false,
        share_back: false,
        created_by: "hostile".into(),
        created_on: Date::today(),
    }
    .to_fields();
    let referral_op = Operation {
        op_id: OpId {
            device: hostile.device_id,
            seq: 2,
        },
        kind: RecordKind::Referral,
        record_id: referral_id,
        hlc: hlc(2),
        fields: to_changes(referral_fields.clone()),
    };
    // And a forged status riding on a second referral.
    referral_fields.insert("status".into(), json!("accepted"));
    let forged_op = Operation {
        op_id: OpId {
            device: hostile.device_id,
            seq: 3,
        },
        kind: RecordKind::Referral,
        record_id: RecordId::new(),
        hlc: hlc(3),
        fields: to_changes(referral_fields),
    };
    let (reply, _) = raw_sync(
        &net,
        &hostile,
        &request(vec![case_op, referral_op, forged_op], vec![]),
    )
    .await;
    assert_eq!(reply.acked_through, 3);
    assert_eq!(
        reply.rejections.len(),
        1,
        "only the forged status is refused"
    );
    assert!(matches!(
        &reply.rejections[0].reason,
        RejectReason::Invalid { detail } if detail.contains("only by the server")
    ));

    let (_, text) = raw_sync(&net, &b1, &request(vec![], vec![])).await;
    no_marker_in(&text, "B's pull");
    b1.sync().await.unwrap();
    let case = b1.store().get_case(&case_id).unwrap();
    assert_eq!(
        case.fields.keys().collect::<Vec<_>>(),
        vec!["sex"],
        "identifying fields are stripped whatever the referral lists"
    );
    // The referral itself arrives, with its list as the sender wrote it.
    let view = b1.store().get_referral(&referral_id).unwrap();
    assert!(view.referral.shared_fields.contains("given_name"));
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_receiving_devices_answer_offline_and_exactly_one_wins_everywhere() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let b2 = device(&net, B, "b2").await;
    let case_id = new_case(&a1, json!("none"));
    let referral_id = refer(&a1, &referral(case_id, B, &["sex"], false));
    // Before the server has seen it, the sender shows it as unconfirmed.
    {
        let store = a1.store();
        let view = store.get_referral(&referral_id).unwrap();
        assert!(!view.confirmed);
        assert!(!store.referral_timeline(&referral_id).unwrap()[0].confirmed);
    }
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    b2.sync().await.unwrap();

    // Offline, b1 accepts and b2 declines the same referral.
    b1.store()
        .request_transition(&referral_id, Transition::Accept, None)
        .unwrap();
    b2.store()
        .request_transition(&referral_id, Transition::Decline, Some("no bed free"))
        .unwrap();
    for (device, transition) in [(&b1, Transition::Accept), (&b2, Transition::Decline)] {
        let view = device.store().get_referral(&referral_id).unwrap();
        assert_eq!(
            view.status,
            ReferralStatus::Sent,
            "pending until acknowledged"
        );
        assert_eq!(view.pending.len(), 1);
        assert_eq!(view.pending[0].transition, transition);
        assert_eq!(device.store().status().unwrap().pending_commands, 1);
    }

    let first = b1.sync().await.unwrap();
    assert_eq!((first.commands_applied, first.commands_rejected), (1, 0));
    let second = b2.sync().await.unwrap();
    assert_eq!((second.commands_applied, second.commands_rejected), (0, 1));
    let loser = b2.store().get_referral(&referral_id).unwrap();
    assert!(loser.pending.is_empty());
    assert_eq!(
        loser.status,
        ReferralStatus::Accepted,
        "b2 shows the winner"
    );
    let rejection = loser.last_rejection.clone().unwrap();
    assert_eq!(rejection.transition, Transition::Decline);
    assert_eq!(rejection.code, CommandRejection::StatusChanged);
    assert_eq!(rejection.current_status, Some(ReferralStatus::Accepted));
    assert!(rejection.explain().contains("accepted"));

    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    let b1_user = b1.store().identity().user.clone();
    for device in [&a1, &b1, &b2] {
        let store = device.store();
        let view = store.get_referral(&referral_id).unwrap();
        assert_eq!(view.status, ReferralStatus::Accepted);
        assert!(view.pending.is_empty());
        assert!(store.status().unwrap().synced);
        // Who did what, when: created by A, accepted by B's first device; nothing else.
        let timeline = store.referral_timeline(&referral_id).unwrap();
        let steps: Vec<_> = timeline
            .iter()
            .map(|e| {
                (
                    e.transition,
                    e.status,
                    e.agency.as_str().to_owned(),
                    e.confirmed,
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                (None, ReferralStatus::Sent, A.to_owned(), true),
                (
                    Some(Transition::Accept),
                    ReferralStatus::Accepted,
                    B.to_owned(),
                    true
                ),
            ]
        );
        assert!(timeline[0].at_ms <= timeline[1].at_ms);
        assert_eq!(timeline[1].user.as_deref(), Some(b1_user.as_str()));
    }
    let (status, body) = timeline(&net, &a1.credential, &referral_id.to_string()).await;
    assert_eq!(status, 200);
    let served: ReferralTimeline = serde_json::from_str(&body).unwrap();
    assert_eq!(served.status, ReferralStatus::Accepted);
    assert_eq!(served.entries.len(), 2);
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_resent_command_gets_the_same_answer_and_applies_once() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let case_id = new_case(&a1, json!("none"));
    let referral_id = refer(&a1, &referral(case_id, B, &["sex"], false));
    a1.sync().await.unwrap();
    let accept = command(
        &b1,
        1,
        referral_id,
        Transition::Accept,
        ReferralStatus::Sent,
        None,
    );
    let (first, _) = raw_sync(&net, &b1, &request(vec![], vec![accept.clone()])).await;
    // The reply was "lost": the device sends the same command again.
    let (again, _) = raw_sync(&net, &b1, &request(vec![], vec![accept.clone()])).await;
    assert_eq!(first.command_results, again.command_results);
    assert_eq!(
        first.command_results[0].outcome,
        CommandOutcome::Applied {
            status: ReferralStatus::Accepted
        }
    );
    let (status, body) = timeline(&net, &b1.credential, &referral_id.to_string()).await;
    assert_eq!(status, 200);
    let served: ReferralTimeline = serde_json::from_str(&body).unwrap();
    assert_eq!(served.entries.len(), 2, "applied once: {body}");
    // A new command with the stale expectation is a new question, answered as such.
    let stale = command(
        &b1,
        2,
        referral_id,
        Transition::Decline,
        ReferralStatus::Sent,
        Some("changed our mind"),
    );
    let (reply, _) = raw_sync(&net, &b1, &request(vec![], vec![stale])).await;
    assert_eq!(
        reply.command_results[0].outcome,
        CommandOutcome::Rejected {
            code: CommandRejection::StatusChanged,
            current_status: Some(ReferralStatus::Accepted)
        }
    );
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_illegal_transition_is_refused_with_a_typed_error() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let c1 = device(&net, C, "c1").await;
    let case_id = new_case(&a1, json!("none"));
    let referral_id = refer(&a1, &referral(case_id, B, &["sex"], false));
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();

    // Locally first, with the same rule.
    assert!(matches!(
        a1.store()
            .request_transition(&referral_id, Transition::Accept, None),
        Err(StoreError::Transition(TransitionError::WrongParty { .. }))
    ));
    assert!(matches!(
        b1.store()
            .request_transition(&referral_id, Transition::Complete, None),
        Err(StoreError::Transition(
            TransitionError::IllegalTransition { .. }
        ))
    ));
    assert!(matches!(
        c1.store()
            .request_transition(&referral_id, Transition::Accept, None),
        Err(StoreError::NoSuchRecord { .. })
    ));

    // And by the server, for a device that does not check (numbered apart from the
    // commands the stores will make).
    let sent = ReferralStatus::Sent;
    let cases = [
        (
            &a1,
            command(&a1, 101, referral_id, Transition::Accept, sent, None),
            CommandRejection::WrongAgency,
            Some(sent),
        ),
        (
            &b1,
            command(&b1, 101, referral_id, Transition::Cancel, sent, None),
            CommandRejection::WrongAgency,
            Some(sent),
        ),
        (
            &b1,
            command(&b1, 102, referral_id, Transition::Complete, sent, None),
            CommandRejection::IllegalTransition,
            Some(sent),
        ),
        (
            &b1,
            command(&b1, 103, referral_id, Transition::Decline, sent, None),
            CommandRejection::ReasonRequired,
            Some(sent),
        ),
        (
            &b1,
            command(&b1, 104, RecordId::new(), Transition::Accept, sent, None),
            CommandRejection::UnknownReferral,
            None,
        ),
        (
            &c1,
            command(&c1, 101, referral_id, Transition::Accept, sent, None),
            CommandRejection::UnknownReferral,
            None,
        ),
        (
            &b1,
            command(
                &b1,
                105,
                referral_id,
                Transition::Accept,
                ReferralStatus::Accepted,
                None,
            ),
            CommandRejection::StatusChanged,
            Some(sent),
        ),
    ];
    for (device, cmd, code, current) in cases {
        let (reply, _) = raw_sync(&net, device, &request(vec![], vec![cmd])).await;
        assert_eq!(
            reply.command_results[0].outcome,
            CommandOutcome::Rejected {
                code,
                current_status: current
            }
        );
    }
    // Still untouched.
    b1.sync().await.unwrap();
    assert_eq!(
        b1.store().get_referral(&referral_id).unwrap().status,
        ReferralStatus::Sent
    );

    // An accepted transfer cannot be cancelled.
    let transfer_id = refer(&a1, &referral(case_id, B, &["sex"], true));
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    b1.store()
        .request_transition(&transfer_id, Transition::Accept, None)
        .unwrap();
    b1.sync().await.unwrap();
    a1.sync().await.unwrap();
    assert!(matches!(
        a1.store()
            .request_transition(&transfer_id, Transition::Cancel, None),
        Err(StoreError::Transition(TransitionError::TransferAccepted))
    ));
    let cancel = command(
        &a1,
        102,
        transfer_id,
        Transition::Cancel,
        ReferralStatus::Accepted,
        None,
    );
    let (reply, _) = raw_sync(&net, &a1, &request(vec![], vec![cancel])).await;
    assert_eq!(
        reply.command_results[0].outcome,
        CommandOutcome::Rejected {
            code: CommandRejection::IllegalTransition,
            current_status: Some(ReferralStatus::Accepted)
        }
    );
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_a_transfer_the_sender_keeps_what_it_had_and_receives_nothing_new() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    // Consent names the receiving mission: identifying fields may go with the transfer.
    let case_id = new_case(&a1, json!([B]));
    let shared = [
        "sex",
        "nationality",
        "given_name",
        "family_name",
        "risk_level",
    ];
    let transfer_id = refer(&a1, &referral(case_id, B, &shared, true));
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    assert_eq!(
        b1.store().get_case(&case_id).unwrap().fields["given_name"],
        NAME
    );
    b1.store()
        .request_transition(&transfer_id, Transition::Accept, None)
        .unwrap();
    b1.sync().await.unwrap();
    a1.sync().await.unwrap();

    // The sender: read-only, refused locally and by the server.
    let before = a1.store().get_case(&case_id).unwrap();
    assert_eq!(before.owner_agency, B);
    assert_eq!(before.fields["phone"], PHONE, "what it recorded stays");
    assert!(matches!(
        a1.store()
            .update_case(&case_id, set("risk_level", json!("low"))),
        Err(StoreError::NotOwner { .. })
    ));
    let next_seq = 3; // the case and the referral were 1 and 2
    let (reply, _) = raw_sync(
        &net,
        &a1,
        &request(
            vec![case_edit(
                &a1,
                next_seq,
                case_id,
                "risk_level",
                json!("low"),
            )],
            vec![],
        ),
    )
    .await;
    assert_eq!(reply.rejections[0].reason, RejectReason::Forbidden);

    // The receiver owns it now: it edits (its partial case still validates) and adds a note.
    assert_eq!(b1.store().get_case(&case_id).unwrap().owner_agency, B);
    b1.store()
        .update_case(&case_id, set("risk_level", json!("low")))
        .unwrap();
    b1.store()
        .add_note(
            &Note::new(
                case_id,
                "Met at the airport".into(),
                Date::today(),
                "b1".into(),
            )
            .unwrap(),
        )
        .unwrap();
    b1.sync().await.unwrap();

    // The sender's devices get none of it.
    let pulled = a1.sync().await.unwrap();
    assert_eq!(pulled.pulled, 0);
    let after = a1.store().get_case(&case_id).unwrap();
    assert_eq!(after.fields, before.fields);
    assert!(a1
        .store()
        .children_of(&case_id, RecordKind::Note)
        .unwrap()
        .is_empty());
    // A device of the sender starting from nothing gets the old data and still nothing new.
    let a2 = device(&net, A, "a2").await;
    a2.sync().await.unwrap();
    let fresh = a2.store().get_case(&case_id).unwrap();
    assert_eq!(fresh.fields["risk_level"], "high");
    assert_eq!(fresh.owner_agency, B);
    assert!(fresh.fields.contains_key("phone"));
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn share_back_decides_whether_the_sender_sees_what_the_receiver_adds() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let c1 = device(&net, C, "c1").await;
    let case_id = new_case(&a1, json!("none"));
    let to_b = refer(
        &a1,
        &NewReferral {
            share_back: true,
            ..referral(case_id, B, &["sex"], false)
        },
    );
    let to_c = refer(&a1, &referral(case_id, C, &["sex"], false));
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    c1.sync().await.unwrap();
    let service = |provider: &str| {
        Service::new(
            case_id,
            ServiceType::Shelter,
            Date::today(),
            AgencyCode::parse(provider).unwrap(),
            Some("three nights".into()),
        )
        .unwrap()
    };
    // Not before accepting.
    assert!(matches!(
        b1.store().add_service(&service(B)),
        Err(StoreError::NotReferred { .. })
    ));
    b1.store()
        .request_transition(&to_b, Transition::Accept, None)
        .unwrap();
    c1.store()
        .request_transition(&to_c, Transition::Accept, None)
        .unwrap();
    b1.sync().await.unwrap();
    c1.sync().await.unwrap();
    let from_b = b1.store().add_service(&service(B)).unwrap();
    let from_c = c1.store().add_service(&service(C)).unwrap();
    let outcome_b = b1.sync().await.unwrap();
    let outcome_c = c1.sync().await.unwrap();
    assert_eq!((outcome_b.rejected, outcome_c.rejected), (0, 0));

    a1.sync().await.unwrap();
    let services: Vec<RecordId> = a1
        .store()
        .children_of(&case_id, RecordKind::Service)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(services, vec![from_b], "B shares back; C does not");
    assert!(!services.contains(&from_c));
    // The two receivers never see each other's work.
    b1.sync().await.unwrap();
    let b_services = b1
        .store()
        .children_of(&case_id, RecordKind::Service)
        .unwrap();
    assert_eq!(b_services.len(), 1);

    // A referral that ends stops the flow: C completes, A edits, C gets nothing new.
    c1.store()
        .request_transition(&to_c, Transition::Complete, None)
        .unwrap();
    c1.sync().await.unwrap();
    a1.store()
        .update_case(&case_id, set("sex", json!("unknown")))
        .unwrap();
    a1.sync().await.unwrap();
    c1.sync().await.unwrap();
    assert_eq!(
        c1.store().get_case(&case_id).unwrap().fields["sex"],
        "female"
    );
    b1.sync().await.unwrap();
    assert_eq!(
        b1.store().get_case(&case_id).unwrap().fields["sex"],
        "unknown"
    );
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn consent_withdrawn_after_the_referral_stops_identifying_fields() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let case_id = new_case(&a1, json!([B]));
    refer(&a1, &referral(case_id, B, &["sex", "given_name"], false));
    a1.sync().await.unwrap();
    let (_, text) = raw_sync(&net, &b1, &request(vec![], vec![])).await;
    assert!(text.contains(NAME), "consent names B: the name goes");
    // The person withdraws consent; the copies already in the log are no longer delivered.
    a1.store()
        .update_case(&case_id, set("consent.data_sharing", json!("none")))
        .unwrap();
    a1.store()
        .update_case(&case_id, set("sex", json!("unknown")))
        .unwrap();
    a1.sync().await.unwrap();
    let (reply, text) = raw_sync(&net, &b1, &request(vec![], vec![])).await;
    no_marker_in(&text, "B's pull after consent was withdrawn");
    assert!(reply
        .ops
        .iter()
        .any(|op| op.record_id == case_id && op.fields.contains_key("sex")));
    net.server.shutdown().await.unwrap();
}

// --- attacks on transfers (security review, item 1) ------------------------------------

/// A JPEG-looking payload: the JPEG magic, then seeded bytes.
fn passport_scan(seed: u8) -> Vec<u8> {
    let mut bytes = b"\xFF\xD8\xFF\xE0".to_vec();
    bytes.extend((0..6000u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

/// Status of a device's GET on an attachment route.
async fn get_status(net: &Net, credential: &str, path: &str) -> reqwest::StatusCode {
    net.http
        .get(format!("{}{path}", net.server.base_url))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap()
        .status()
}

/// The ids of a case's attachments a device is told about (empty when refused).
async fn listed_attachments(net: &Net, credential: &str, case_id: RecordId) -> Vec<String> {
    let response = net
        .http
        .get(format!(
            "{}/v1/cases/{case_id}/attachments",
            net.server.base_url
        ))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    if !response.status().is_success() {
        return Vec::new();
    }
    let body: Value = response.json().await.unwrap();
    body["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Transfers `case_id` from `a1` to B sharing `shared`, and has `b1` accept it.
async fn transfer_and_accept(
    net: &Net,
    a1: &Device,
    b1: &Device,
    case_id: RecordId,
    shared: &[&str],
) {
    let transfer_id = refer(a1, &referral(case_id, B, shared, true));
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    b1.store()
        .request_transition(&transfer_id, Transition::Accept, None)
        .unwrap();
    b1.sync().await.unwrap();
    let _ = net;
}

#[tokio::test]
async fn a_transfer_without_consent_hands_over_no_attachment() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let case_id = new_case(&a1, json!("none"));
    let scan = a1
        .store()
        .add_attachment(
            &case_id,
            "image/jpeg",
            &passport_scan(1)[..],
            Some("passport"),
        )
        .unwrap();
    a1.sync().await.unwrap();
    transfer_and_accept(&net, &a1, &b1, case_id, &["sex"]).await;
    assert_eq!(b1.store().get_case(&case_id).unwrap().owner_agency, B);

    // The new owner: the case's sex, and no passport scan by any route.
    for path in [
        format!("/v1/attachments/{scan}"),
        format!("/v1/attachments/{scan}/chunks/0"),
    ] {
        assert_eq!(
            get_status(&net, &b1.credential, &path).await,
            reqwest::StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(listed_attachments(&net, &b1.credential, case_id)
        .await
        .is_empty());
    // The agency that recorded it keeps it.
    assert_eq!(
        get_status(&net, &a1.credential, &format!("/v1/attachments/{scan}")).await,
        reqwest::StatusCode::OK
    );
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_onward_referral_passes_on_only_what_the_referrer_holds() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let c1 = device(&net, C, "c1").await;
    let case_id = new_case(&a1, json!("none"));
    let scan = a1
        .store()
        .add_attachment(
            &case_id,
            "image/jpeg",
            &passport_scan(2)[..],
            Some("passport"),
        )
        .unwrap();
    a1.sync().await.unwrap();
    transfer_and_accept(&net, &a1, &b1, case_id, &["sex", "nationality"]).await;

    // The new owner rewrites consent to name a third agency and refers the case onward,
    // listing the identifying fields it never received.
    b1.store()
        .update_case(&case_id, set("consent.data_sharing", json!([C])))
        .unwrap();
    refer(
        &b1,
        &referral(
            case_id,
            C,
            &[
                "sex",
                "nationality",
                "given_name",
                "family_name",
                "phone",
                "photo",
            ],
            false,
        ),
    );
    b1.sync().await.unwrap();

    let (reply, text) = raw_sync(&net, &c1, &request(vec![], vec![])).await;
    no_marker_in(&text, "the third agency's pull");
    let fields: std::collections::BTreeSet<&str> = reply
        .ops
        .iter()
        .filter(|op| op.record_id == case_id)
        .flat_map(|op| op.fields.keys().map(String::as_str))
        .collect();
    assert!(
        fields.contains("sex") && fields.contains("nationality"),
        "{fields:?}"
    );
    assert!(!fields.contains("given_name"), "{fields:?}");
    assert_eq!(
        get_status(&net, &c1.credential, &format!("/v1/attachments/{scan}")).await,
        reqwest::StatusCode::NOT_FOUND,
        "the passport scan the referrer never had"
    );
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_owner_reading_another_agencys_attachment_is_audited() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let case_id = new_case(&a1, json!([B]));
    let scan = a1
        .store()
        .add_attachment(
            &case_id,
            "image/jpeg",
            &passport_scan(3)[..],
            Some("passport"),
        )
        .unwrap();
    a1.sync().await.unwrap();
    transfer_and_accept(&net, &a1, &b1, case_id, &["sex", "photo"]).await;

    // Consent names B and the transfer shared the photo: the new owner may read it...
    for path in [
        format!("/v1/attachments/{scan}"),
        format!("/v1/attachments/{scan}/chunks/0"),
    ] {
        assert_eq!(
            get_status(&net, &b1.credential, &path).await,
            reqwest::StatusCode::OK,
            "{path}"
        );
    }
    let data_dir = net.dir.path().join("server");
    net.server.shutdown().await.unwrap();
    // ...and every read of it is audited, although B owns the case now.
    let reads: Vec<_> = audit_of(&data_dir)
        .into_iter()
        .filter(|e| {
            e.event == AuditEvent::SharedDelivery
                && e.agency.as_str() == B
                && e.record_id == Some(scan)
        })
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
}
