//! Referral handoff with no network (`docs/handoff.md`), end to end: a real server on a
//! loopback port and real SQLite stores. Two phones of two agencies enroll and sync once, then
//! meet offline: the referring phone makes a bundle, the receiving phone reads it (through the
//! QR chunk assembler or as a file) and accepts at once. Only afterwards do they sync, in
//! either order — the server records one referral and one transition, and both phones
//! converge. Every refusal, on the phone and on the server, imports nothing.

use fieldcase_core::handoff::qr::{chunks, Assembler};
use fieldcase_core::handoff::{HandoffError, DEFAULT_LIFETIME_MS};
use fieldcase_core::model::codes::ServiceType;
use fieldcase_core::referral::{ReferralStatus, Transition, Urgency};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{NewReferral, StoreError};
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_e2e::{admin, DeviceOptions, ServerProcess, TestDevice};
use serde_json::json;
use std::path::Path;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_fieldcase-e2e-server");
const SHARED: [&str; 5] = [
    "given_name",
    "sex",
    "nationality",
    "consent.data_sharing",
    "photo",
];

struct Meeting {
    _dir: tempfile::TempDir,
    server: ServerProcess,
    /// The referring phone (iom_uga) and the receiving phone (iom_eth).
    a: TestDevice,
    b: TestDevice,
    case: RecordId,
    referral: RecordId,
    bundle: Vec<u8>,
}

async fn device(server: &ServerProcess, dir: &Path, agency: &str, name: &str) -> TestDevice {
    let url = server.base_url();
    TestDevice::enroll(
        &admin(server),
        &url,
        &url,
        agency,
        dir,
        name,
        DeviceOptions::default(),
    )
    .await
    .unwrap()
}

/// Both phones enroll and sync once (the case is on the server), then no network: the
/// referring phone makes a referral and a bundle of it.
async fn meet(consent: serde_json::Value) -> Meeting {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(SERVER_BIN, dir.path().join("server"))
        .await
        .unwrap();
    for agency in ["iom_uga", "iom_eth", "ngo_x"] {
        admin(&server).create_agency(agency, agency).await.unwrap();
    }
    let a = device(&server, dir.path(), "iom_uga", "a").await;
    let b = device(&server, dir.path(), "iom_eth", "b").await;
    let mut case = SampleCases::new(15).next_case();
    case["consent"]["data_sharing"] = consent;
    let case_id = a.create_case(&case);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend(std::iter::repeat_n(0x42, 3000));
    a.store()
        .add_attachment(&case_id, "image/jpeg", jpeg.as_slice(), None)
        .unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    // Once more, so the referring phone's directory holds the receiving phone's key too (for
    // its receipt): phones sync every day they have a network, long before they meet.
    a.sync().await.unwrap();
    assert!(a.store().handoff_ready().unwrap() && b.store().handoff_ready().unwrap());

    // From here on, no network until the test says so.
    let referral = a
        .store()
        .create_referral(&NewReferral {
            case_id,
            to_agency: AgencyCode::parse("iom_eth").unwrap(),
            services: [ServiceType::Shelter].into(),
            reason: "Needs a safe bed tonight".into(),
            urgency: Urgency::High,
            shared_fields: SHARED.iter().map(|s| (*s).to_owned()).collect(),
            transfer: false,
            share_back: true,
        })
        .unwrap();
    let bundle = a
        .store()
        .make_handoff(&referral, DEFAULT_LIFETIME_MS)
        .unwrap()
        .bytes;
    Meeting {
        _dir: dir,
        server,
        a,
        b,
        case: case_id,
        referral,
        bundle,
    }
}

fn consent_names_eth() -> serde_json::Value {
    json!(["iom_eth"])
}

/// The receiving phone reads the bundle through the QR codes, shown in reverse order with a
/// duplicate, and accepts it on the spot.
fn read_by_qr_and_accept(m: &Meeting) {
    let codes = chunks(&m.bundle).unwrap();
    let mut assembler = Assembler::new();
    for code in codes.iter().rev().chain(codes.first()) {
        assembler.add(code).unwrap();
    }
    let bytes = assembler.bundle().unwrap();
    let imported = m.b.store().read_handoff(&bytes).unwrap();
    assert_eq!(imported.referral_id, m.referral);
    assert_eq!(imported.case_id, m.case);
    assert_eq!(imported.attachments, 1, "the photo, which consent allows");
    let fields = m.b.case_fields(&m.case);
    assert!(fields.contains_key("given_name") && fields.contains_key("sex"));
    assert!(
        !fields.contains_key("phone") && !fields.contains_key("answers.narrative"),
        "only what the referral shares"
    );
    m.b.store()
        .request_transition(&m.referral, Transition::Accept, None)
        .unwrap();
    let view = m.b.store().get_referral(&m.referral).unwrap();
    assert!(!view.confirmed, "pending until the server has it");
    assert_eq!(view.expected_status(), ReferralStatus::Accepted);
    let sent = m.a.store().get_referral(&m.referral).unwrap();
    assert!(!sent.confirmed);

    // The receiving phone shows its answer back as one QR code: the referring phone records
    // it as reported, pending the server.
    let receipt = m.b.store().make_handoff_receipt(&m.referral).unwrap();
    assert_eq!(chunks_of_receipt(&receipt), 1);
    assert_eq!(m.a.store().handoff_reported(&m.referral).unwrap(), None);
    assert_eq!(
        m.a.store().read_handoff_receipt(&receipt).unwrap(),
        Transition::Accept
    );
    assert_eq!(
        m.a.store().handoff_reported(&m.referral).unwrap(),
        Some(Transition::Accept)
    );
    let own = m.b.store().read_handoff_receipt(&receipt).unwrap_err();
    assert!(
        matches!(own, StoreError::Handoff(HandoffError::WrongAgency)),
        "{own:?}"
    );
    let mut forged = receipt.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let forged = m.a.store().read_handoff_receipt(&forged).unwrap_err();
    assert!(
        matches!(forged, StoreError::Handoff(HandoffError::BadSignature)),
        "{forged:?}"
    );
}

/// A receipt fits one QR code at the chosen version.
fn chunks_of_receipt(receipt: &[u8]) -> usize {
    assert!(receipt.len() <= fieldcase_core::handoff::qr::QR_CAPACITY_BYTES);
    1
}

/// Both phones hold one referral, accepted, with the server's history of exactly one
/// creation and one transition, and nothing waiting or refused.
fn assert_converged(m: &Meeting) {
    for phone in [&m.a, &m.b] {
        let store = phone.store();
        let referrals = store.list_referrals().unwrap();
        assert_eq!(referrals.len(), 1, "{}", phone.device_id());
        let view = &referrals[0];
        assert_eq!(view.id, m.referral);
        assert!(view.confirmed);
        assert_eq!(view.status, ReferralStatus::Accepted);
        let history: Vec<_> = view
            .history
            .iter()
            .map(|h| (h.status, h.transition))
            .collect();
        assert_eq!(
            history,
            [
                (ReferralStatus::Sent, None),
                (ReferralStatus::Accepted, Some(Transition::Accept))
            ]
        );
        assert!(view.pending.is_empty() && view.last_rejection.is_none());
        assert_eq!(store.pending_handoffs().unwrap(), 0);
        assert!(store.handoff_refusals().unwrap().is_empty());
        assert_eq!(store.status().unwrap().pending_ops, 0);
        assert_eq!(store.status().unwrap().pending_commands, 0);
    }
    assert!(
        m.a.rejected_ops().is_empty(),
        "the referral was not refused as a duplicate"
    );
    assert_eq!(
        m.b.case_fields(&m.case).get("given_name"),
        m.a.case_fields(&m.case).get("given_name")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiving_phone_syncs_first() {
    let m = meet(consent_names_eth()).await;
    read_by_qr_and_accept(&m);
    m.b.sync().await.unwrap();
    m.a.sync().await.unwrap();
    m.b.sync().await.unwrap();
    assert_converged(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_referring_phone_syncs_first() {
    let m = meet(consent_names_eth()).await;
    read_by_qr_and_accept(&m);
    m.a.sync().await.unwrap();
    m.b.sync().await.unwrap();
    m.a.sync().await.unwrap();
    assert_converged(&m);
}

/// Reading fails with `expected` and the receiving phone holds nothing of the bundle.
fn assert_refused_on_the_phone(
    m: &Meeting,
    phone: &TestDevice,
    bytes: &[u8],
    expected: HandoffError,
) {
    let error = phone.store().read_handoff(bytes).unwrap_err();
    assert!(
        matches!(&error, StoreError::Handoff(e) if *e == expected),
        "{error:?}"
    );
    assert!(phone.store().list_referrals().unwrap().is_empty());
    assert!(!phone.has_case(&m.case));
    assert_eq!(phone.store().pending_handoffs().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_bundle_is_refused() {
    let m = meet(consent_names_eth()).await;
    let later = fieldcase_core::hlc::now_ms() + DEFAULT_LIFETIME_MS + 1;
    let error = m.b.store().read_handoff_at(&m.bundle, later).unwrap_err();
    assert!(
        matches!(error, StoreError::Handoff(HandoffError::Expired)),
        "{error:?}"
    );
    assert!(m.b.store().list_referrals().unwrap().is_empty());
    assert!(!m.b.has_case(&m.case));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_for_another_agency_is_refused() {
    let m = meet(consent_names_eth()).await;
    let c = device(&m.server, m._dir.path(), "ngo_x", "c").await;
    c.sync().await.unwrap();
    assert_refused_on_the_phone(&m, &c, &m.bundle, HandoffError::WrongAgency);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_bundle_is_refused() {
    let m = meet(consent_names_eth()).await;
    let mut bytes = m.bundle.clone();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    assert_refused_on_the_phone(&m, &m.b, &bytes, HandoffError::Tampered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_bundle_is_refused_by_the_phone_and_by_the_server() {
    let m = meet(consent_names_eth()).await;
    m.b.store().read_handoff(&m.bundle).unwrap();
    let error = m.b.store().read_handoff(&m.bundle).unwrap_err();
    assert!(
        matches!(error, StoreError::Handoff(HandoffError::Replayed)),
        "{error:?}"
    );
    // A second phone of the receiving agency with a copy of the same bundle: it reads it
    // (it never saw it), but the server has it from the first phone and refuses the copy.
    m.b.sync().await.unwrap();
    let b2 = device(&m.server, m._dir.path(), "iom_eth", "b2").await;
    b2.sync().await.unwrap();
    // b2 now holds the referral by sync already: reading the bundle adds nothing.
    let error = b2.store().read_handoff(&m.bundle).unwrap_err();
    assert!(
        matches!(error, StoreError::Handoff(HandoffError::Replayed)),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_presented_by_another_phone_is_refused_by_the_server() {
    let m = meet(consent_names_eth()).await;
    let b2 = device(&m.server, m._dir.path(), "iom_eth", "b2").await;
    b2.sync().await.unwrap();
    m.b.store().read_handoff(&m.bundle).unwrap();
    b2.store().read_handoff(&m.bundle).unwrap();
    m.b.sync().await.unwrap();
    b2.sync().await.unwrap();
    let refusals = b2.store().handoff_refusals().unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].code, "replayed");
    assert_eq!(b2.store().pending_handoffs().unwrap(), 0);
    assert!(m.b.store().handoff_refusals().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_a_revoked_device_is_refused_on_the_phone() {
    let m = meet(consent_names_eth()).await;
    admin(&m.server)
        .revoke_device(&m.a.device_id())
        .await
        .unwrap();
    m.b.sync().await.unwrap();
    assert_refused_on_the_phone(&m, &m.b, &m.bundle, HandoffError::RevokedDevice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_a_device_revoked_later_is_refused_by_the_server() {
    let m = meet(consent_names_eth()).await;
    read_by_qr_and_accept(&m);
    admin(&m.server)
        .revoke_device(&m.a.device_id())
        .await
        .unwrap();
    m.b.sync().await.unwrap();
    let refusals = m.b.store().handoff_refusals().unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].code, "revoked_device");
    assert!(
        m.b.store().list_referrals().unwrap().is_empty(),
        "the server's answer wins"
    );
    assert!(!m.b.has_case(&m.case));
    assert_eq!(m.b.store().status().unwrap().pending_commands, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_withdrawn_meanwhile_takes_the_names_back() {
    let m = meet(consent_names_eth()).await;
    read_by_qr_and_accept(&m);
    assert!(m.b.case_fields(&m.case).contains_key("given_name"));
    // The referring agency records that consent was withdrawn, and syncs first.
    m.a.update_case(
        &m.case,
        [("consent.data_sharing".to_owned(), json!("none"))].into(),
    )
    .unwrap();
    m.a.sync().await.unwrap();
    m.b.sync().await.unwrap();
    let fields = m.b.case_fields(&m.case);
    assert!(
        !fields.contains_key("given_name"),
        "the server's answer wins"
    );
    assert!(fields.contains_key("sex"));
    assert!(
        m.b.store().attachments_of_case(&m.case).unwrap().is_empty(),
        "the photo goes with the consent"
    );
    assert!(m.b.store().handoff_refusals().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_the_server_has_not_seen_waits_for_the_referring_phone() {
    let m = meet(consent_names_eth()).await;
    // A second case, recorded offline after the last sync, referred and handed over.
    let mut case = SampleCases::new(16).next_case();
    case["consent"]["data_sharing"] = consent_names_eth();
    let new_case = m.a.create_case(&case);
    let referral =
        m.a.store()
            .create_referral(&NewReferral {
                case_id: new_case,
                to_agency: AgencyCode::parse("iom_eth").unwrap(),
                services: [ServiceType::Medical].into(),
                reason: "Needs a doctor".into(),
                urgency: Urgency::Medium,
                shared_fields: ["sex".to_owned()].into(),
                transfer: false,
                share_back: false,
            })
            .unwrap();
    let bundle =
        m.a.store()
            .make_handoff(&referral, DEFAULT_LIFETIME_MS)
            .unwrap()
            .bytes;
    m.b.store().read_handoff(&bundle).unwrap();
    m.b.store()
        .request_transition(&referral, Transition::Accept, None)
        .unwrap();

    // The receiving phone syncs first: the server cannot place the referral yet.
    m.b.sync().await.unwrap();
    assert_eq!(m.b.store().pending_handoffs().unwrap(), 1);
    let view = m.b.store().get_referral(&referral).unwrap();
    assert!(!view.confirmed && view.pending.len() == 1 && view.last_rejection.is_none());

    // Once the referring phone has synced the case, the next sync reconciles and accepts.
    m.a.sync().await.unwrap();
    m.b.sync().await.unwrap();
    m.a.sync().await.unwrap();
    for phone in [&m.a, &m.b] {
        let view = phone.store().get_referral(&referral).unwrap();
        assert!(view.confirmed);
        assert_eq!(view.status, ReferralStatus::Accepted);
        assert_eq!(view.history.len(), 2);
        assert_eq!(phone.store().pending_handoffs().unwrap(), 0);
    }
}
