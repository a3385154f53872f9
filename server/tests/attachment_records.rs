//! Attachment records in the operation log, end to end: core's store and sync client on
//! devices of three agencies against the real server on loopback.
//!
//! A device attaches a scan and syncs; another device of its agency lists it offline after
//! its next sync (size and label before any download) and fetches the bytes on demand. An
//! agency that may not see the attachment — no referral, a referral that does not share the
//! field it hangs on, consent that does not name it, consent withdrawn after the record was
//! addressed — neither receives its record (checked on the raw pull too) nor fetches it. A
//! device cannot write such a record itself.
//!
//! Agencies: `iom_uga` (A, records the case), `iom_eth` (B, a partner), `ngo_x` (C).

mod common;

use common::{enrolled_device, Device};
use fieldcase_core::attachments::record as attachment_record;
use fieldcase_core::model::{Case, Fields, ServiceType};
use fieldcase_core::protocol::{
    decode_body, encode_body, ErrorCode, RejectReason, SyncRequest, SyncResponse, CONTENT_TYPE,
    PROTOCOL_VERSION,
};
use fieldcase_core::referral::Urgency;
use fieldcase_core::store::{AttachmentSyncState, NewReferral};
use fieldcase_core::sync::{fetch_attachment, fetch_attachment_with_progress, SyncError};
use fieldcase_core::{AgencyCode, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::{RunningServer, Server, ServerConfig};
use serde_json::{json, Value};
use std::sync::Mutex;

const A: &str = "iom_uga";
const B: &str = "iom_eth";
const C: &str = "ngo_x";

/// The label of the scan: personal data that must reach no agency that may not see it.
const LABEL: &str = "Zuleikamarker passport page 2";
const MARKER: &str = "Zuleikamarker";

struct Net {
    server: RunningServer,
    admin: AdminClient,
    dir: tempfile::TempDir,
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
    Net { server, admin, dir }
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

fn new_case(device: &Device, sharing: Value) -> RecordId {
    let case = Case::from_json(&json!({
        "given_name": "Amina", "family_name": "Okello", "sex": "female", "nationality": "ETH",
        "country_of_assistance": "UGA", "intake_date": "2026-09-14",
        "categories": ["victim_of_trafficking"],
        "consent": {
            "assistance": {"given": true, "date": "2026-09-14", "recorded_by": "cw-1"},
            "data_sharing": sharing
        },
        "status": "open"
    }))
    .unwrap();
    device.store().create_case(&case).unwrap()
}

/// A JPEG-looking scan of `len` bytes (several 64 KiB chunks for the sizes used here).
fn scan(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"\xFF\xD8\xFF\xE0".to_vec();
    bytes.extend((0..len - 4).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn attach(device: &Device, case_id: RecordId, content: &[u8]) -> RecordId {
    device
        .store()
        .add_attachment(&case_id, "image/jpeg", content, Some(LABEL))
        .unwrap()
}

fn referral(case_id: RecordId, to: &str, shared: &[&str]) -> NewReferral {
    NewReferral {
        case_id,
        to_agency: AgencyCode::parse(to).unwrap(),
        services: [ServiceType::Shelter].into(),
        reason: "Needs a bed on arrival".into(),
        urgency: Urgency::High,
        shared_fields: shared.iter().map(|s| (*s).to_owned()).collect(),
        transfer: false,
        share_back: false,
    }
}

fn set(key: &str, value: Value) -> Fields {
    [(key.to_owned(), value)].into()
}

/// A pull from the beginning of the log, as the device's credential gets it: the reply and
/// its decompressed text (to search for anything that must not be there).
async fn raw_pull(net: &Net, device: &Device, ops: Vec<Operation>) -> (SyncResponse, String) {
    let credential = &device.credential;
    // The device's own store report: its counter moves on as for any request it sends.
    let store = Some(device.store().next_store_report().unwrap());
    let request = SyncRequest {
        store,
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: None,
        pull_limit: None,
        commands: vec![],
        handoff: None,
    };
    let response = reqwest::Client::new()
        .post(format!("{}/v1/sync", net.server.base_url))
        .bearer_auth(credential)
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

/// Asserts that `device`'s agency was sent nothing of attachment `id`, neither in the log
/// nor by the attachment routes, and that its store lists nothing for the case.
async fn sees_nothing_of(net: &Net, device: &Device, case_id: RecordId, id: RecordId) {
    device.sync().await.unwrap();
    assert!(device.store().attachment_record(&id).unwrap().is_none());
    assert!(device
        .store()
        .list_attachments(&case_id)
        .unwrap()
        .is_empty());
    let (reply, text) = raw_pull(net, device, vec![]).await;
    assert!(
        reply.ops.iter().all(|op| op.kind != RecordKind::Attachment),
        "an attachment record reached {}",
        device.store().identity().agency
    );
    assert!(!text.contains(MARKER), "the label leaked: {text}");
    match fetch_attachment(&device.store, &device.client, &id).await {
        Err(SyncError::Refused {
            code: ErrorCode::NotFound,
            ..
        }) => {}
        other => panic!("fetching another agency's attachment: {other:?}"),
    }
}

#[tokio::test]
async fn another_device_of_the_agency_lists_an_attachment_offline_and_fetches_it() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let a2 = device(&net, A, "a2").await;
    let case_id = new_case(&a1, json!("none"));
    let content = scan(300_000, 1);
    let id = attach(&a1, case_id, &content);

    let listed = a1.store().list_attachments(&case_id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, AttachmentSyncState::LocalOnly);
    a1.sync().await.unwrap();
    let listed = a1.store().list_attachments(&case_id).unwrap();
    assert_eq!(listed[0].state, AttachmentSyncState::Uploaded);

    // The other phone: one sync, then the case's attachments without the network — id,
    // field, type, size and label, before a byte of it is here.
    a2.sync().await.unwrap();
    let remote = a2.store().list_attachments(&case_id).unwrap();
    assert_eq!(remote.len(), 1, "{remote:?}");
    let entry = &remote[0];
    assert_eq!(
        (entry.id, entry.case_id, entry.field.as_str(), entry.size),
        (id, case_id, "photo", content.len() as u64)
    );
    assert_eq!(entry.content_type.as_str(), "image/jpeg");
    assert_eq!(entry.label.as_deref(), Some(LABEL));
    assert_eq!(entry.state, AttachmentSyncState::RemoteOnly);
    assert!(matches!(
        a2.store().read_attachment(&id),
        Err(fieldcase_core::store::StoreError::NoSuchAttachment { .. })
    ));

    // Fetched on demand, with progress up to the size shown.
    let seen = Mutex::new(Vec::new());
    let meta = fetch_attachment_with_progress(&a2.store, &a2.client, &id, &|done, total| {
        seen.lock().unwrap().push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(meta.size, content.len() as u64);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.first(), Some(&(0, content.len() as u64)));
    assert_eq!(
        seen.last(),
        Some(&(content.len() as u64, content.len() as u64))
    );
    assert_eq!(seen.len(), 1 + meta.chunk_count as usize);
    assert_eq!(&a2.store().read_attachment(&id).unwrap()[..], &content[..]);
    let listed = a2.store().list_attachments(&case_id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, AttachmentSyncState::Uploaded);

    // The declaring phone itself pulls the record too, and still lists the attachment once.
    a1.sync().await.unwrap();
    assert_eq!(a1.store().list_attachments(&case_id).unwrap().len(), 1);
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_agency_that_may_not_see_an_attachment_receives_no_record_of_it() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let c1 = device(&net, C, "c1").await;
    // Consent names B (not C); the case is referred to B sharing `sex` only, and to C
    // sharing `photo` (which consent does not allow C).
    let case_id = new_case(&a1, json!([B]));
    a1.store()
        .create_referral(&referral(case_id, B, &["sex"]))
        .unwrap();
    let id = attach(&a1, case_id, &scan(150_000, 2));
    a1.sync().await.unwrap();
    a1.store()
        .create_referral(&referral(case_id, C, &["sex", "photo"]))
        .unwrap_err(); // refused on the device: consent does not name C
    sees_nothing_of(&net, &b1, case_id, id).await;
    sees_nothing_of(&net, &c1, case_id, id).await;

    // A referral to B that shares the photo, with consent naming B: now B's devices learn
    // of it from the log and may fetch it.
    a1.store()
        .create_referral(&referral(case_id, B, &["sex", "photo"]))
        .unwrap();
    a1.sync().await.unwrap();
    b1.sync().await.unwrap();
    let listed = b1.store().list_attachments(&case_id).unwrap();
    assert_eq!(listed.len(), 1, "delivered with the referral: {listed:?}");
    assert_eq!(listed[0].state, AttachmentSyncState::RemoteOnly);
    fetch_attachment(&b1.store, &b1.client, &id).await.unwrap();
    sees_nothing_of(&net, &c1, case_id, id).await;
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_record_addressed_before_consent_was_withdrawn_is_not_delivered() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let b1 = device(&net, B, "b1").await;
    let case_id = new_case(&a1, json!([B]));
    a1.store()
        .create_referral(&referral(case_id, B, &["sex", "photo"]))
        .unwrap();
    a1.sync().await.unwrap();
    // Addressed to B when the upload completes (B may see it then)…
    let id = attach(&a1, case_id, &scan(70_000, 3));
    a1.sync().await.unwrap();
    // …but consent is withdrawn before B's next pull: the pull asks the rule again.
    a1.store()
        .update_case(&case_id, set("consent.data_sharing", json!("none")))
        .unwrap();
    a1.sync().await.unwrap();
    sees_nothing_of(&net, &b1, case_id, id).await;
    net.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_device_cannot_write_an_attachment_record() {
    let net = network().await;
    let a1 = device(&net, A, "a1").await;
    let a2 = device(&net, A, "a2").await;
    let case_id = new_case(&a1, json!("none"));
    a1.sync().await.unwrap();
    let attachment_id = RecordId::new();
    let forged = fieldcase_core::attachments::record::AttachmentRecord {
        attachment_id,
        case_id,
        field: "photo".into(),
        content_type: fieldcase_core::attachments::ContentType::Jpeg,
        size: 1000,
        chunk_size: 65_536,
        sha256: fieldcase_core::attachments::Sha256Digest::of(b"x"),
        label: None,
    };
    let op = |seq: u64, kind: RecordKind, record_id: RecordId| Operation {
        op_id: OpId {
            device: a2.device_id,
            seq,
        },
        kind,
        record_id,
        hlc: Hlc {
            wall_ms: fieldcase_core::hlc::now_ms(),
            counter: 0,
            device: a2.device_id,
        },
        fields: forged
            .to_fields()
            .into_iter()
            .map(|(k, value)| (k, FieldChange::fresh(value)))
            .collect(),
    };
    let ops = vec![
        op(
            1,
            RecordKind::Attachment,
            attachment_record::record_id(&attachment_id),
        ),
        op(2, RecordKind::Attachment, RecordId::new()),
    ];
    let (reply, _) = raw_pull(&net, &a2, ops).await;
    assert_eq!(reply.rejections.len(), 2, "{:?}", reply.rejections);
    assert!(matches!(
        reply.rejections[0].reason,
        RejectReason::Invalid { .. }
    ));
    a1.sync().await.unwrap();
    assert!(a1.store().list_attachments(&case_id).unwrap().is_empty());
    net.server.shutdown().await.unwrap();
}
