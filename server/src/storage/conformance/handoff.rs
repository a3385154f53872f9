//! Handoff checks of the conformance suite: a referral handed over phone to phone is
//! reconciled once whichever phone arrives first, and the server refuses — with its reason,
//! creating nothing — a bundle replayed by another phone, altered, too old, presented by
//! another agency, signed by an unknown or revoked device, or about a case transferred
//! meanwhile (`service::handoff`).

use super::referrals::op_with;
use super::{enrolled, NOW};
use crate::service::handoff;
use crate::service::Service;
use crate::storage::*;
use fieldcase_core::handoff::{
    make, AgencyPublicKey, DeviceSigningKey, MakeInput, SignedReferral, DEFAULT_LIFETIME_MS,
};
use fieldcase_core::merge::merged_state;
use fieldcase_core::protocol::{HandoffOutcome, HandoffSync, ReferralCommand};
use fieldcase_core::referral::{ReferralStatus, Transition};
use fieldcase_core::{OpId, RecordId, RecordKind};
use serde_json::json;

/// A phone: its device and its registered signing key.
struct Phone {
    device: DeviceAuth,
    key: DeviceSigningKey,
}

fn phone(store: &dyn Storage, agency: &str) -> Phone {
    let phone = Phone {
        device: enrolled(store, agency),
        key: DeviceSigningKey::generate(),
    };
    present(store, &phone, vec![], NOW);
    phone
}

/// One handoff sync of `phone` presenting `referrals`; the outcome of each.
fn present(
    store: &dyn Storage,
    phone: &Phone,
    referrals: Vec<SignedReferral>,
    now_ms: u64,
) -> Vec<HandoffOutcome> {
    let request = HandoffSync {
        signing_key: phone.key.public().to_hex(),
        directory_digest: None,
        referrals,
    };
    let reply = handoff::sync(store, &phone.device, &request, now_ms).unwrap();
    assert!(reply.directory.is_some());
    reply.results.into_iter().map(|r| r.outcome).collect()
}

fn code(outcome: &HandoffOutcome) -> &str {
    match outcome {
        HandoffOutcome::Refused { code, .. } => code,
        HandoffOutcome::Reconciled { .. } => "reconciled",
        HandoffOutcome::Pending => "pending",
    }
}

/// `from` records and syncs a case (operation `case_seq`), then (offline) refers it to `to`
/// (operation `referral_seq`, pushed or not by the caller) and makes a bundle.
fn bundle(
    store: &dyn Storage,
    from: &Phone,
    to: &str,
    case_seq: u64,
    referral_seq: u64,
) -> (RecordId, SignedReferral) {
    let case = RecordId::new();
    let case_op = op_with(
        &from.device,
        case_seq,
        RecordKind::Case,
        case,
        &[
            ("sex", json!("female")),
            ("consent.data_sharing", json!("none")),
        ],
    );
    let pushed = store
        .push(&from.device, std::slice::from_ref(&case_op), NOW)
        .unwrap();
    assert!(pushed.rejections.is_empty() && pushed.applied == 1);
    (
        case,
        bundle_of(store, from, to, referral_seq, case, &case_op),
    )
}

fn bundle_of(
    store: &dyn Storage,
    from: &Phone,
    to: &str,
    seq: u64,
    case: RecordId,
    case_op: &fieldcase_core::Operation,
) -> SignedReferral {
    let referral = op_with(
        &from.device,
        seq,
        RecordKind::Referral,
        RecordId::new(),
        &[
            ("case_id", json!(case.to_string())),
            ("from_agency", json!(from.device.agency.as_str())),
            ("to_agency", json!(to)),
            ("services", json!(["shelter"])),
            ("reason", json!("needs a bed")),
            ("urgency", json!("high")),
            ("shared_fields", json!(["sex"])),
            ("transfer", json!(false)),
            ("share_back", json!(false)),
            ("created_by", json!("staff")),
            ("created_on", json!("2023-11-14")),
        ],
    );
    let directory = handoff::directory(store, &from.device.agency).unwrap();
    let recipient =
        AgencyPublicKey::parse_hex(&directory.agencies[&AgencyCode::parse(to).unwrap()]).unwrap();
    make(
        &MakeInput {
            referral_op: &referral,
            case: &merged_state(None, case_op),
            attachments: &[],
            device: from.device.id,
            now_ms: NOW,
            lifetime_ms: DEFAULT_LIFETIME_MS,
        },
        &from.key,
        &recipient,
    )
    .unwrap()
    .signed
}

fn referral_id(signed: &SignedReferral) -> RecordId {
    let payload: fieldcase_core::handoff::Payload =
        fieldcase_core::protocol::decode_body(&signed.payload).unwrap();
    payload.referral.record_id
}

fn has_referral(store: &dyn Storage, id: RecordId) -> bool {
    read(store, |tx| tx.referral(id)).unwrap().is_some()
}

pub fn a_handed_over_referral_is_reconciled_once_and_refused_with_reasons(store: &dyn Storage) {
    let a = phone(store, "agency_a");
    let b = phone(store, "agency_b");
    let b2 = phone(store, "agency_b");
    let c = phone(store, "agency_c");

    // Reconciled once: the same phone again gets the same answer, the referral is not
    // created twice, and a copy from another phone of the agency is a replay.
    let (_, signed) = bundle(store, &a, "agency_b", 1, 2);
    let id = referral_id(&signed);
    assert_eq!(
        code(&present(store, &b, vec![signed.clone()], NOW)[0]),
        "reconciled"
    );
    assert!(has_referral(store, id));
    assert_eq!(
        code(&present(store, &b, vec![signed.clone()], NOW)[0]),
        "reconciled"
    );
    assert_eq!(
        code(&present(store, &b2, vec![signed.clone()], NOW)[0]),
        "replayed"
    );
    let timeline = store
        .referral_timeline(&b.device, id, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(timeline.entries.len(), 1, "one creation");
    // The referring phone's own push of the same operation is "already recorded".
    let (_, payload, _) = signed.verify(&a.key.public()).unwrap();
    let pushed = store.push(&a.device, &[payload.referral], NOW).unwrap();
    assert!(pushed.rejections.is_empty() && pushed.applied == 1);

    // Altered on the way: the signature no longer holds; nothing is created.
    let (_, mut altered) = bundle(store, &a, "agency_b", 3, 1003);
    let last = altered.payload.len() - 1;
    altered.payload[last] ^= 1;
    assert_eq!(
        code(&present(store, &b, vec![altered], NOW)[0]),
        "bad_signature"
    );

    // Presented by an agency it was not made for.
    let (_, for_b) = bundle(store, &a, "agency_b", 4, 1004);
    assert_eq!(
        code(&present(store, &c, vec![for_b.clone()], NOW)[0]),
        "wrong_agency"
    );
    assert!(!has_referral(store, referral_id(&for_b)));

    // Too old: beyond its expiry and the grace.
    let late = NOW + DEFAULT_LIFETIME_MS + handoff::RECONCILE_GRACE_MS + 1;
    assert_eq!(
        code(&present(store, &b, vec![for_b.clone()], late)[0]),
        "expired"
    );
    assert!(!has_referral(store, referral_id(&for_b)));

    // Signed by a device that never registered its key.
    let stranger = Phone {
        device: enrolled(store, "agency_a"),
        key: DeviceSigningKey::generate(),
    };
    let (_, unknown) = bundle(store, &stranger, "agency_b", 1, 1001);
    assert_eq!(
        code(&present(store, &b, vec![unknown], NOW)[0]),
        "unknown_device"
    );

    // A case transferred to a third agency meanwhile: the server's answer wins.
    let (case, stale) = bundle(store, &a, "agency_b", 5, 1005);
    let transfer = op_with(
        &a.device,
        6,
        RecordKind::Referral,
        RecordId::new(),
        &[
            ("case_id", json!(case.to_string())),
            ("from_agency", json!("agency_a")),
            ("to_agency", json!("agency_c")),
            ("services", json!(["legal"])),
            ("reason", json!("moves to C")),
            ("urgency", json!("low")),
            ("shared_fields", json!(["sex"])),
            ("transfer", json!(true)),
            ("share_back", json!(false)),
            ("created_by", json!("staff")),
            ("created_on", json!("2023-11-14")),
        ],
    );
    let pushed = store
        .push(&a.device, std::slice::from_ref(&transfer), NOW)
        .unwrap();
    assert!(pushed.rejections.is_empty() && pushed.applied == 1);
    let accepted = store
        .apply_commands(
            &c.device,
            &[ReferralCommand {
                command_id: OpId {
                    device: c.device.id,
                    seq: 1,
                },
                referral_id: transfer.record_id,
                transition: Transition::Accept,
                expected_status: ReferralStatus::Sent,
                reason: None,
            }],
            NOW,
        )
        .unwrap();
    assert_eq!(accepted.len(), 1);
    let refused = present(store, &b, vec![stale.clone()], NOW);
    assert_eq!(code(&refused[0]), "refused_by_server");
    assert!(!has_referral(store, referral_id(&stale)));

    // Signed by a device revoked since.
    let (_, before_revocation) = bundle(store, &a, "agency_b", 7, 1007);
    store.revoke_device(a.device.id, None, NOW).unwrap();
    assert_eq!(
        code(&present(store, &b, vec![before_revocation.clone()], NOW)[0]),
        "revoked_device"
    );
    assert!(!has_referral(store, referral_id(&before_revocation)));
}
