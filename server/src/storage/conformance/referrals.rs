//! Referral checks of the conformance suite: what a referral delivers, commands as
//! compare-and-set, transfers, and the audit log — through the [`Storage`] trait only.

use super::{case_op, enrolled, NOW};
use crate::service::Service;
use crate::storage::*;
use fieldcase_core::protocol::{
    CommandOutcome, CommandRejection, ReferralCommand, RejectReason, SERVER_DEVICE_ID,
};
use fieldcase_core::referral::{ReferralStatus, Transition};
use fieldcase_core::{FieldChange, Hlc, OpId, RecordId, RecordKind};
use serde_json::{json, Value};

pub(super) fn op_with(
    device: &DeviceAuth,
    seq: u64,
    kind: RecordKind,
    record: RecordId,
    fields: &[(&str, Value)],
) -> Operation {
    Operation {
        op_id: OpId {
            device: device.id,
            seq,
        },
        kind,
        record_id: record,
        hlc: Hlc {
            wall_ms: NOW + seq,
            counter: 0,
            device: device.id,
        },
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), FieldChange::fresh(v.clone())))
            .collect(),
    }
}

/// A case with a name, a sex and consent naming nobody.
fn named_case(device: &DeviceAuth, seq: u64, record: RecordId) -> Operation {
    op_with(
        device,
        seq,
        RecordKind::Case,
        record,
        &[
            ("given_name", json!("Conformancemarker")),
            ("sex", json!("female")),
            ("consent.data_sharing", json!("none")),
        ],
    )
}

/// Pushes, from `device`, a new case (made by `make_case`) and a referral of it to `to`;
/// both must be accepted. Returns their ids.
fn refer_case(
    store: &dyn Storage,
    device: &DeviceAuth,
    make_case: fn(&DeviceAuth, u64, RecordId) -> Operation,
    to: &str,
    transfer: bool,
) -> (RecordId, RecordId) {
    let (case, referral) = (RecordId::new(), RecordId::new());
    let pushed = store
        .push(
            device,
            &[
                make_case(device, 1, case),
                referral_op(device, 2, referral, case, to, transfer),
            ],
            NOW,
        )
        .unwrap();
    assert!(pushed.rejections.is_empty(), "{:?}", pushed.rejections);
    (case, referral)
}

fn referral_op(
    device: &DeviceAuth,
    seq: u64,
    referral: RecordId,
    case: RecordId,
    to: &str,
    transfer: bool,
) -> Operation {
    op_with(
        device,
        seq,
        RecordKind::Referral,
        referral,
        &[
            ("case_id", json!(case.to_string())),
            ("from_agency", json!(device.agency.as_str())),
            ("to_agency", json!(to)),
            ("services", json!(["shelter"])),
            ("reason", json!("needs a bed")),
            ("urgency", json!("high")),
            ("shared_fields", json!(["sex", "given_name"])),
            ("transfer", json!(transfer)),
            ("share_back", json!(false)),
            ("created_by", json!("staff")),
            ("created_on", json!("2023-11-14")),
        ],
    )
}

fn command(
    device: &DeviceAuth,
    seq: u64,
    referral: RecordId,
    transition: Transition,
    expected: ReferralStatus,
) -> ReferralCommand {
    ReferralCommand {
        command_id: OpId {
            device: device.id,
            seq,
        },
        referral_id: referral,
        transition,
        expected_status: expected,
        reason: (transition == Transition::Decline).then(|| "no bed".to_owned()),
    }
}

pub fn a_referral_delivers_only_what_consent_allows(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let c = enrolled(store, "agency_c");
    let (case, referral) = refer_case(store, &a, named_case, "agency_b", false);

    let page = store.pull(&b, 0, 100).unwrap();
    let case_ops: Vec<_> = page.ops.iter().filter(|o| o.record_id == case).collect();
    assert!(!case_ops.is_empty(), "the shared fields are delivered");
    for op in &case_ops {
        assert_eq!(op.op_id.device, SERVER_DEVICE_ID, "a server-authored copy");
        assert_eq!(op.hlc.device, a.id, "keeping the version it copies");
        assert_eq!(op.fields.keys().collect::<Vec<_>>(), vec!["sex"]);
    }
    let referral_ops: Vec<_> = page
        .ops
        .iter()
        .filter(|o| o.record_id == referral)
        .collect();
    assert!(referral_ops.iter().any(|o| o.op_id.device == a.id));
    assert!(referral_ops
        .iter()
        .any(|o| o.op_id.device == SERVER_DEVICE_ID && o.fields["status"].value == "sent"));
    let delivered: Vec<_> = page.deliveries.iter().map(|d| d.record_id).collect();
    assert!(delivered.contains(&case) && delivered.contains(&referral));
    assert!(store.pull(&c, 0, 100).unwrap().ops.is_empty());

    // A later edit carrying a shared and an identifying field reaches B for the shared one.
    store
        .push(
            &a,
            &[op_with(
                &a,
                3,
                RecordKind::Case,
                case,
                &[("sex", json!("male")), ("given_name", json!("Other"))],
            )],
            NOW,
        )
        .unwrap();
    let next = store.pull(&b, page.last_scanned, 100).unwrap();
    assert_eq!(next.ops.len(), 1);
    assert_eq!(next.ops[0].fields.keys().collect::<Vec<_>>(), vec!["sex"]);
    assert_eq!(
        next.ops[0].op_id,
        OpId {
            device: a.id,
            seq: 3
        }
    );
}

pub fn commands_are_compare_and_set_and_idempotent(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b1 = enrolled(store, "agency_b");
    let b2 = enrolled(store, "agency_b");
    let c = enrolled(store, "agency_c");
    let (_, referral) = refer_case(store, &a, case_op, "agency_b", false);
    let sent = ReferralStatus::Sent;
    let accept = command(&b1, 1, referral, Transition::Accept, sent);
    let first = store
        .apply_commands(&b1, std::slice::from_ref(&accept), NOW)
        .unwrap();
    assert_eq!(
        first[0].outcome,
        CommandOutcome::Applied {
            status: ReferralStatus::Accepted
        }
    );
    let raced = store
        .apply_commands(
            &b2,
            &[command(&b2, 1, referral, Transition::Decline, sent)],
            NOW,
        )
        .unwrap();
    assert_eq!(
        raced[0].outcome,
        CommandOutcome::Rejected {
            code: CommandRejection::StatusChanged,
            current_status: Some(ReferralStatus::Accepted)
        }
    );
    assert_eq!(store.apply_commands(&b1, &[accept], NOW).unwrap(), first);
    for (device, cmd) in [
        (&c, command(&c, 1, referral, Transition::Accept, sent)),
        (
            &b1,
            command(&b1, 2, RecordId::new(), Transition::Accept, sent),
        ),
    ] {
        assert_eq!(
            store.apply_commands(device, &[cmd], NOW).unwrap()[0].outcome,
            CommandOutcome::Rejected {
                code: CommandRejection::UnknownReferral,
                current_status: None
            }
        );
    }
    assert!(matches!(
        store.apply_commands(
            &b1,
            &[command(&b2, 9, referral, Transition::Complete, sent)],
            NOW
        ),
        Err(StorageError::InvalidPush(_))
    ));
    let timeline = store.referral_timeline(&a, referral, NOW).unwrap().unwrap();
    assert_eq!(timeline.status, ReferralStatus::Accepted);
    assert_eq!(timeline.entries.len(), 2, "created, accepted once");
    assert_eq!(timeline.entries[1].agency.as_str(), "agency_b");
    assert!(store
        .referral_timeline(&c, referral, NOW)
        .unwrap()
        .is_none());
}

pub fn an_accepted_transfer_moves_the_case(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let a2 = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let (case, referral) = refer_case(store, &a, case_op, "agency_b", true);
    let accepted = store
        .apply_commands(
            &b,
            &[command(
                &b,
                1,
                referral,
                Transition::Accept,
                ReferralStatus::Sent,
            )],
            NOW,
        )
        .unwrap();
    assert!(matches!(
        accepted[0].outcome,
        CommandOutcome::Applied { .. }
    ));
    let before = store.pull(&a2, 0, 100).unwrap();
    let refused = store.push(&a, &[case_op(&a, 3, case)], NOW).unwrap();
    assert_eq!(refused.rejections[0].reason, RejectReason::Forbidden);
    let edit = store.push(&b, &[case_op(&b, 1, case)], NOW).unwrap();
    assert!(edit.rejections.is_empty());
    let after = store.pull(&a2, before.last_scanned, 100).unwrap();
    assert!(
        after.ops.iter().all(|o| o.record_id != case),
        "the sender receives nothing new of the case"
    );
    let everything = store.pull(&a2, 0, 100).unwrap();
    assert!(
        everything
            .ops
            .iter()
            .any(|o| o.record_id == case && o.op_id.device == a.id),
        "and keeps what it recorded"
    );
    assert!(everything.ops.iter().all(|o| o.op_id.device != b.id));
}

pub fn shared_deliveries_and_transitions_are_audited(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let (case, referral) = refer_case(store, &a, named_case, "agency_b", false);
    store
        .apply_commands(
            &b,
            &[command(
                &b,
                1,
                referral,
                Transition::Decline,
                ReferralStatus::Sent,
            )],
            NOW,
        )
        .unwrap();
    let page = store.pull(&b, 0, 100).unwrap();
    store
        .record_deliveries(&b, &page.deliveries, NOW + 1)
        .unwrap();
    let events: Vec<AuditEvent> = store
        .audit_log(None)
        .unwrap()
        .iter()
        .map(|e| e.event)
        .collect();
    for expected in [
        AuditEvent::ReferralCreated,
        AuditEvent::ReferralTransition,
        AuditEvent::SharedDelivery,
    ] {
        assert!(events.contains(&expected), "{expected:?} in {events:?}");
    }
    let of_case = store.audit_log(Some(case)).unwrap();
    assert!(of_case
        .iter()
        .all(|e| e.event == AuditEvent::SharedDelivery && e.device == Some(b.id)));
    assert!(!of_case.is_empty());
    for entry in store.audit_log(None).unwrap() {
        assert!(!format!("{entry:?}").contains("Conformancemarker"));
        assert!(!format!("{entry:?}").contains("no bed"));
    }
}
