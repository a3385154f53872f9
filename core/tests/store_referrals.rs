//! Referrals in the device store, with the server's answers simulated: consent-bounded
//! creation, transitions checked locally and shown pending until answered, refusals kept with
//! the current status, ownership following an accepted transfer, and status keys taken only
//! from the server.

mod common;
use common::*;
use fieldcase_core::model::ServiceType;
use fieldcase_core::protocol::{CommandOutcome, CommandRejection, CommandResult, SERVER_DEVICE_ID};
use fieldcase_core::referral::record::{HISTORY, STATUS, STATUS_REASON};
use fieldcase_core::referral::{
    HistoryEntry, ReferralStatus, ServerState, SharingError, Transition, TransitionError, Urgency,
};
use fieldcase_core::store::{NewReferral, Store, StoreError};
use fieldcase_core::{AgencyCode, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use serde_json::json;

fn agency(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

fn new_store_of(dir: &std::path::Path, name: &str, device: u8, agency_code: &str) -> Store {
    Store::create(
        &store_path(dir, name),
        PASSPHRASE,
        None,
        identity(device, agency_code),
        &options(),
    )
    .unwrap()
}

fn referral_to(case_id: RecordId, to: &str, shared: &[&str], transfer: bool) -> NewReferral {
    NewReferral {
        case_id,
        to_agency: agency(to),
        services: [ServiceType::Shelter].into(),
        reason: "Needs a safe place to stay".into(),
        urgency: Urgency::High,
        shared_fields: shared.iter().map(|s| (*s).to_owned()).collect(),
        transfer,
        share_back: false,
    }
}

/// An operation the server would write on a referral: its status and history.
fn server_status(
    referral: RecordId,
    seq: u64,
    status: ReferralStatus,
    transition: Option<Transition>,
    by: &str,
) -> Operation {
    let hlc = Hlc {
        wall_ms: fieldcase_core::hlc::now_ms() + seq,
        counter: 0,
        device: SERVER_DEVICE_ID,
    };
    let state = ServerState {
        status: Some(status),
        reason: None,
        history: vec![HistoryEntry {
            status,
            transition,
            agency: agency(by),
            user: Some("staff-1".into()),
            at_ms: hlc.wall_ms,
            reason: None,
        }],
    };
    Operation {
        op_id: OpId {
            device: SERVER_DEVICE_ID,
            seq,
        },
        kind: RecordKind::Referral,
        record_id: referral,
        hlc,
        fields: state
            .to_fields()
            .into_iter()
            .map(|(k, v)| (k, FieldChange::fresh(v)))
            .collect(),
    }
}

#[test]
fn identifying_fields_need_consent_naming_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    // The sample case's consent names iom_ken only.
    let id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let refused = a
        .create_referral(&referral_to(id, "iom_eth", &["sex", "given_name"], false))
        .unwrap_err();
    match &refused {
        StoreError::Sharing(SharingError::NotConsented { field }) => {
            assert_eq!(field, "given_name")
        }
        other => panic!("{other:?}"),
    }
    assert!(!refused.to_string().contains("Amina"));
    let answers = a
        .create_referral(&referral_to(id, "iom_eth", &["answers.narrative"], false))
        .unwrap_err();
    assert!(matches!(
        answers,
        StoreError::Sharing(SharingError::NotConsented { .. })
    ));
    assert!(a
        .create_referral(&referral_to(id, "iom_ken", &["sex", "given_name"], false))
        .is_ok());
    assert!(matches!(
        a.create_referral(&referral_to(id, "iom_uga", &["sex"], false)),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        a.create_referral(&referral_to(RecordId::new(), "iom_eth", &["sex"], false)),
        Err(StoreError::NoSuchRecord { .. })
    ));
    assert_eq!(a.list_referrals().unwrap().len(), 1);
    assert_eq!(a.status().unwrap().pending_ops, 2, "case and referral");
}

#[test]
fn transitions_are_checked_locally_queued_and_settled_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store_of(dir.path(), "b", 2, "iom_eth");
    let case_id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let referral = a
        .create_referral(&referral_to(case_id, "iom_eth", &["sex"], false))
        .unwrap();
    // B receives the referral and the server's "sent".
    let mut page = a.pending_ops(10).unwrap();
    page.retain(|op| op.kind == RecordKind::Referral);
    page.push(server_status(
        referral,
        1,
        ReferralStatus::Sent,
        None,
        "iom_uga",
    ));
    b.apply_remote(&page, "c1").unwrap();
    let seen = b.get_referral(&referral).unwrap();
    assert!(seen.confirmed);
    assert_eq!(seen.status, ReferralStatus::Sent);

    // Wrong party, locally, with a typed error; nothing queued.
    assert!(matches!(
        a.request_transition(&referral, Transition::Accept, None),
        Err(StoreError::Transition(TransitionError::WrongParty { .. }))
    ));
    assert!(matches!(
        b.request_transition(&referral, Transition::Decline, None),
        Err(StoreError::Transition(TransitionError::DeclineNeedsReason))
    ));
    assert!(matches!(
        b.request_transition(&referral, Transition::Complete, None),
        Err(StoreError::Transition(
            TransitionError::IllegalTransition { .. }
        ))
    ));
    assert_eq!(b.pending_commands(10).unwrap().len(), 0);

    // Accept, then complete on top of it, offline: both pending, in order.
    b.request_transition(&referral, Transition::Accept, None)
        .unwrap();
    b.request_transition(&referral, Transition::Complete, None)
        .unwrap();
    let view = b.get_referral(&referral).unwrap();
    assert_eq!(
        view.status,
        ReferralStatus::Sent,
        "the server has not answered"
    );
    assert_eq!(view.pending.len(), 2);
    assert_eq!(view.expected_status(), ReferralStatus::Completed);
    let commands = b.pending_commands(10).unwrap();
    assert_eq!(
        commands
            .iter()
            .map(|c| c.command_id.seq)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(commands[1].expected_status, ReferralStatus::Accepted);
    assert!(!b.status().unwrap().synced);
    let timeline = b.referral_timeline(&referral).unwrap();
    assert_eq!(timeline.len(), 3);
    assert!(timeline[0].confirmed && !timeline[1].confirmed && !timeline[2].confirmed);

    // The server applies the first and refuses the second.
    let results = [
        CommandResult {
            command_id: commands[0].command_id,
            outcome: CommandOutcome::Applied {
                status: ReferralStatus::Accepted,
            },
        },
        CommandResult {
            command_id: commands[1].command_id,
            outcome: CommandOutcome::Rejected {
                code: CommandRejection::StatusChanged,
                current_status: Some(ReferralStatus::Cancelled),
            },
        },
    ];
    let status_op = server_status(
        referral,
        2,
        ReferralStatus::Accepted,
        Some(Transition::Accept),
        "iom_eth",
    );
    let report = b.apply_reply(&[status_op], "c2", &results).unwrap();
    assert_eq!((report.commands_applied, report.commands_rejected), (1, 1));
    let view = b.get_referral(&referral).unwrap();
    assert!(view.pending.is_empty());
    assert_eq!(view.status, ReferralStatus::Accepted);
    let rejection = view.last_rejection.unwrap();
    assert_eq!(rejection.code, CommandRejection::StatusChanged);
    assert_eq!(rejection.current_status, Some(ReferralStatus::Cancelled));
    assert!(rejection.explain().contains("cancelled"));
    // A resent reply changes nothing.
    let again = b.apply_reply(&[], "c2", &results).unwrap();
    assert_eq!((again.commands_applied, again.commands_rejected), (0, 0));
    // The next command numbers on.
    b.request_transition(&referral, Transition::Complete, None)
        .unwrap();
    assert_eq!(b.pending_commands(10).unwrap()[0].command_id.seq, 3);
    assert!(b.get_referral(&referral).unwrap().last_rejection.is_none());
}

#[test]
fn an_accepted_transfer_moves_the_case_and_local_edits_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let case_id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let referral = a
        .create_referral(&referral_to(
            case_id,
            "iom_ken",
            &["sex", "given_name"],
            true,
        ))
        .unwrap();
    a.update_case(&case_id, [("risk_level".to_owned(), json!("high"))].into())
        .unwrap();
    a.apply_remote(
        &[server_status(
            referral,
            1,
            ReferralStatus::Sent,
            None,
            "iom_uga",
        )],
        "c1",
    )
    .unwrap();
    assert_eq!(a.get_case(&case_id).unwrap().owner_agency, "iom_uga");
    assert_eq!(a.case_summary(&case_id).unwrap().owner_agency, "iom_uga");
    a.apply_remote(
        &[server_status(
            referral,
            2,
            ReferralStatus::Accepted,
            Some(Transition::Accept),
            "iom_ken",
        )],
        "c2",
    )
    .unwrap();
    let case = a.get_case(&case_id).unwrap();
    assert_eq!(case.owner_agency, "iom_ken");
    // The summary a list or search shows follows the owner, in the same transaction.
    assert_eq!(a.case_summary(&case_id).unwrap().owner_agency, "iom_ken");
    let found = a
        .search(&fieldcase_core::store::SearchQuery::Name("amina".into()))
        .unwrap();
    assert_eq!(found[0].summary.owner_agency, "iom_ken");
    assert_eq!(
        case.fields["risk_level"], "high",
        "what it recorded stays readable"
    );
    assert!(matches!(
        a.update_case(&case_id, [("risk_level".to_owned(), json!("low"))].into()),
        Err(StoreError::NotOwner { .. })
    ));
    assert!(matches!(
        a.create_referral(&referral_to(case_id, "iom_eth", &["sex"], false)),
        Err(StoreError::NotOwner { .. })
    ));
    let note = fieldcase_core::model::Note::new(
        case_id,
        "called".into(),
        fieldcase_core::model::Date::today(),
        "user-1".into(),
    )
    .unwrap();
    assert!(matches!(
        a.add_note(&note),
        Err(StoreError::NotReferred { .. })
    ));
}

#[test]
fn referral_status_is_taken_only_from_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = new_store(dir.path(), "a", 1);
    let mut b = new_store_of(dir.path(), "b", 2, "iom_ken");
    let case_id = a
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let referral = a
        .create_referral(&referral_to(case_id, "iom_ken", &["sex"], true))
        .unwrap();
    let mut ops = a.pending_ops(10).unwrap();
    // A forged "accepted" riding on a device's operation.
    let forged = server_status(referral, 9, ReferralStatus::Accepted, None, "iom_ken");
    for op in ops.iter_mut().filter(|op| op.kind == RecordKind::Referral) {
        op.fields.extend(forged.fields.clone());
    }
    b.apply_remote(&ops, "c1").unwrap();
    let view = b.get_referral(&referral).unwrap();
    assert!(!view.confirmed);
    assert_eq!(view.status, ReferralStatus::Sent);
    let stored = b.get_case(&case_id).unwrap();
    assert_eq!(
        stored.owner_agency, "iom_uga",
        "a received case is its sender's"
    );
    for key in [STATUS, STATUS_REASON, HISTORY] {
        assert!(!view.referral.to_fields().contains_key(key));
    }
}
