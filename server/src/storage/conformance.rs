//! The storage conformance suite: the [`Storage`] contract, written once, run against every
//! implementation with [`conformance_suite!`] (SQLite today; PostgreSQL runs the same macro).
//!
//! Each check takes a fresh, empty store. Checks go through the trait only.

use super::*;
use crate::credentials::{hash_secret, SecretKind};
use crate::roles::Role;
use crate::service::Service;
use fieldcase_core::protocol::RejectReason;
use fieldcase_core::{FieldChange, Hlc, OpId, RecordId, RecordKind};

mod attachments;
mod audit;
mod concurrency;
mod credentials;
mod device_store;
mod forms;
mod handoff;
mod port;
mod referrals;
mod reports;
mod retention;
pub use attachments::*;
pub use audit::*;
pub use concurrency::*;
pub use credentials::*;
pub use device_store::*;
pub use forms::*;
pub use handoff::*;
pub use port::*;
pub use referrals::*;
pub use reports::*;
pub use retention::*;

/// The server clock of these checks (2025-10-09): after every date the fixtures use, since
/// the server refuses dates in its future.
pub const NOW: u64 = 1_760_000_000_000;

fn agency(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

/// An operation of `device` setting a case's `sex`.
pub fn sex_op(device: &DeviceAuth, seq: u64, record: RecordId, sex: &str) -> Operation {
    let mut op = case_op(device, seq, record);
    op.fields
        .insert("sex".to_owned(), FieldChange::fresh(sex.into()));
    op
}

/// An agency (created if needed), a caseworker and an enrolled device in it.
fn enrolled(store: &dyn Storage, code: &str) -> DeviceAuth {
    let a = agency(code);
    if !store.agency_exists(&a).unwrap() {
        store.create_agency(&a, "Agency", NOW).unwrap();
    }
    let user = store
        .create_user(
            &NewUser {
                agency: a.clone(),
                role: Role::Caseworker,
                display_name: "Staff".into(),
            },
            NOW,
        )
        .unwrap();
    let code = crate::credentials::new_enrollment_code();
    let code_hash = hash_secret(SecretKind::EnrollmentCode, &code);
    store
        .create_enrollment_code(&NewEnrollmentCode {
            code_hash,
            user_id: user.id.clone(),
            agency: a,
            created_at_ms: NOW,
            expires_at_ms: NOW + 1000,
        })
        .unwrap();
    let credential = crate::credentials::new_bearer_secret();
    let credential_hash = hash_secret(SecretKind::DeviceCredential, &credential);
    store
        .redeem_enrollment_code(
            &code_hash,
            &NewDevice {
                id: DeviceId::new_random(),
                label: "phone".into(),
                credential_hash,
            },
            NOW,
        )
        .unwrap()
        .expect("a fresh code redeems");
    store
        .device_by_credential(&credential_hash)
        .unwrap()
        .unwrap()
}

/// An agency (created if needed), a caseworker and an enrolled device in it, for checks a
/// backend adds of its own (several handles on one database).
pub fn enrolled_device(store: &dyn Storage, code: &str) -> DeviceAuth {
    enrolled(store, code)
}

/// A case operation of `device` (`sex: female`), for checks a backend adds of its own.
pub fn new_case_op(device: &DeviceAuth, seq: u64, record: RecordId) -> Operation {
    case_op(device, seq, record)
}

fn case_op(device: &DeviceAuth, seq: u64, record: RecordId) -> Operation {
    Operation {
        op_id: OpId {
            device: device.id,
            seq,
        },
        kind: RecordKind::Case,
        record_id: record,
        hlc: Hlc {
            wall_ms: NOW + seq,
            counter: 0,
            device: device.id,
        },
        fields: [("sex".to_owned(), FieldChange::fresh("female".into()))].into(),
    }
}

pub fn push_is_idempotent_and_stops_at_gaps(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let r = RecordId::new();
    let ops: Vec<_> = (1..=3).map(|s| case_op(&d, s, r)).collect();
    let first = store.push(&d, &ops, NOW).unwrap();
    assert_eq!(
        (first.acked_through, first.applied, first.skipped),
        (3, 3, 0)
    );
    let again = store.push(&d, &ops, NOW).unwrap();
    assert_eq!(
        (again.acked_through, again.applied, again.skipped),
        (3, 0, 3)
    );
    let gap = store
        .push(&d, &[case_op(&d, 5, r), case_op(&d, 6, r)], NOW)
        .unwrap();
    assert!(gap.gap);
    assert_eq!((gap.acked_through, gap.applied), (3, 0));
}

pub fn a_failed_push_commits_nothing(store: &dyn Storage) {
    let d = enrolled(store, "agency_a");
    let other = enrolled(store, "agency_a");
    let r = RecordId::new();
    let mixed = [case_op(&d, 1, r), case_op(&other, 1, r)];
    assert!(matches!(
        store.push(&d, &mixed, NOW),
        Err(StorageError::InvalidPush(_))
    ));
    let page = store.pull(&other, 0, 100).unwrap();
    assert!(page.ops.is_empty(), "the first operation was rolled back");
    assert_eq!(store.push(&d, &[], NOW).unwrap().acked_through, 0);
}

pub fn pulls_follow_positions_and_visibility(store: &dyn Storage) {
    let a1 = enrolled(store, "agency_a");
    let a2 = enrolled(store, "agency_a");
    let b1 = enrolled(store, "agency_b");
    let (ra, rb) = (RecordId::new(), RecordId::new());
    store
        .push(&a1, &[case_op(&a1, 1, ra), case_op(&a1, 2, ra)], NOW)
        .unwrap();
    store.push(&b1, &[case_op(&b1, 1, rb)], NOW).unwrap();
    store.push(&a2, &[case_op(&a2, 1, ra)], NOW).unwrap();
    let foreign = store.push(&b1, &[case_op(&b1, 2, ra)], NOW).unwrap();
    assert_eq!(foreign.rejections[0].reason, RejectReason::Forbidden);

    let page = store.pull(&a2, 0, 100).unwrap();
    let seen: Vec<_> = page
        .ops
        .iter()
        .map(|o| (o.op_id.device, o.op_id.seq))
        .collect();
    assert_eq!(
        seen,
        vec![(a1.id, 1), (a1.id, 2)],
        "own and foreign operations excluded"
    );
    assert!(!page.more);
    assert!(page.last_scanned >= 3, "scanned past its own operation");
    assert!(page.log_end >= page.last_scanned);
    assert!(store
        .pull(&a2, page.last_scanned, 100)
        .unwrap()
        .ops
        .is_empty());

    let first = store.pull(&a2, 0, 1).unwrap();
    assert_eq!(first.ops.len(), 1);
    assert!(first.more, "a full page with more visible after it says so");
    let rest = store.pull(&a2, first.last_scanned, 1).unwrap();
    assert_eq!(
        (rest.ops[0].op_id.device, rest.ops[0].op_id.seq),
        (a1.id, 2)
    );
    assert!(rest.last_scanned > first.last_scanned, "positions increase");
    assert_eq!(
        rest.last_scanned, page.last_scanned,
        "own operation scanned past"
    );
    assert!(!rest.more);
    assert_eq!(store.pull(&a1, 0, 100).unwrap().ops[0].op_id.device, a2.id);

    let b_page = store.pull(&b1, 0, 100).unwrap();
    assert_eq!(b_page.ops.len(), 0, "B sees nothing of A");
}

pub fn enrollment_codes_work_once_and_expire(store: &dyn Storage) {
    let a = agency("agency_a");
    store.create_agency(&a, "A", NOW).unwrap();
    let user = store
        .create_user(
            &NewUser {
                agency: a.clone(),
                role: Role::Supervisor,
                display_name: "S".into(),
            },
            NOW,
        )
        .unwrap();
    let code_hash = hash_secret(SecretKind::EnrollmentCode, "CODE");
    store
        .create_enrollment_code(&NewEnrollmentCode {
            code_hash,
            user_id: user.id,
            agency: a,
            created_at_ms: NOW,
            expires_at_ms: NOW + 10,
        })
        .unwrap();
    let device = |n: u8| NewDevice {
        id: DeviceId::from_bytes([n; 16]),
        label: "p".into(),
        credential_hash: [n; 32],
    };
    assert!(
        store
            .redeem_enrollment_code(&code_hash, &device(1), NOW + 10)
            .unwrap()
            .is_none(),
        "expired at expires_at"
    );
    let enrolled = store
        .redeem_enrollment_code(&code_hash, &device(2), NOW + 9)
        .unwrap()
        .unwrap();
    assert_eq!(enrolled.role, Role::Supervisor);
    assert!(
        store
            .redeem_enrollment_code(&code_hash, &device(3), NOW + 9)
            .unwrap()
            .is_none(),
        "used"
    );
    assert!(
        store
            .redeem_enrollment_code(&[7; 32], &device(4), NOW)
            .unwrap()
            .is_none(),
        "unknown"
    );
    assert_eq!(store.list_devices(None).unwrap().len(), 1);
}

pub fn scoped_lookups_hide_other_agencies(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = agency("agency_b");
    store.create_agency(&b, "B", NOW).unwrap();
    assert!(store.revoke_device(a.id, Some(&b), NOW).unwrap().is_none());
    assert!(store.user(&a.user_id, Some(&b)).unwrap().is_none());
    assert!(store.list_devices(Some(&b)).unwrap().is_empty());
    assert!(store.list_users(Some(&b)).unwrap().is_empty());
    assert!(store.list_devices(None).unwrap()[0].revoked_at_ms.is_none());

    let revoked = store.revoke_device(a.id, None, NOW).unwrap().unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(NOW));
    let again = store.revoke_device(a.id, None, NOW + 5).unwrap().unwrap();
    assert_eq!(again.revoked_at_ms, Some(NOW), "revocation time is kept");
    assert!(matches!(
        store.push(&a, &[case_op(&a, 1, RecordId::new())], NOW),
        Err(StorageError::DeviceRevoked)
    ));
    assert_eq!(
        store.device_counts().unwrap(),
        DeviceCounts {
            active: 0,
            revoked: 1
        }
    );
}

pub fn admin_tokens_and_agencies(store: &dyn Storage) {
    assert!(!store.has_system_admin(NOW).unwrap());
    let id = store
        .create_admin_token(&NewAdminToken {
            token_hash: [1; 32],
            scope: AdminScope::System,
            label: "first".into(),
            created_at_ms: NOW,
            expires_at_ms: NOW + 1000,
        })
        .unwrap();
    assert!(store.has_system_admin(NOW).unwrap());
    assert_eq!(
        store.admin_by_token(&[1; 32], NOW).unwrap(),
        Some(AdminAuth {
            id,
            scope: AdminScope::System
        })
    );
    assert_eq!(store.admin_by_token(&[2; 32], NOW).unwrap(), None);
    let missing = store.create_admin_token(&NewAdminToken {
        token_hash: [2; 32],
        scope: AdminScope::Agency(agency("nowhere")),
        label: "x".into(),
        created_at_ms: NOW,
        expires_at_ms: NOW + 1000,
    });
    assert!(matches!(missing, Err(StorageError::NotFound("agency"))));
    store.create_agency(&agency("agency_a"), "A", NOW).unwrap();
    assert!(matches!(
        store.create_agency(&agency("agency_a"), "A again", NOW),
        Err(StorageError::AlreadyExists("agency"))
    ));
    assert_eq!(store.list_agencies(None).unwrap().len(), 1);
}

/// Expands to one `#[test]` per conformance check, each on a fresh store from `$make`
/// (an expression returning something that derefs to a `Storage`, kept alive for the test).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        mod conformance {
            use super::*;
            use $crate::storage::conformance as c;

            #[test]
            fn network_forms_reach_every_agency_now_and_later() {
                let store = $make;
                c::network_forms_reach_every_agency_now_and_later(&*store);
            }
            #[test]
            fn forms_are_immutable_and_reach_only_their_agency() {
                let store = $make;
                c::forms_are_immutable_and_reach_only_their_agency(&*store);
            }
            #[test]
            fn pushed_answers_are_checked_and_merged_cases_flagged() {
                let store = $make;
                c::pushed_answers_are_checked_and_merged_cases_flagged(&*store);
            }
            #[test]
            fn push_is_idempotent_and_stops_at_gaps() {
                let store = $make;
                c::push_is_idempotent_and_stops_at_gaps(&*store);
            }
            #[test]
            fn a_failed_push_commits_nothing() {
                let store = $make;
                c::a_failed_push_commits_nothing(&*store);
            }
            #[test]
            fn pulls_follow_positions_and_visibility() {
                let store = $make;
                c::pulls_follow_positions_and_visibility(&*store);
            }
            #[test]
            fn enrollment_codes_work_once_and_expire() {
                let store = $make;
                c::enrollment_codes_work_once_and_expire(&*store);
            }
            #[test]
            fn scoped_lookups_hide_other_agencies() {
                let store = $make;
                c::scoped_lookups_hide_other_agencies(&*store);
            }
            #[test]
            fn admin_tokens_and_agencies() {
                let store = $make;
                c::admin_tokens_and_agencies(&*store);
            }
            #[test]
            fn admin_tokens_expire_rotate_and_revoke_within_scope() {
                let store = $make;
                c::admin_tokens_expire_rotate_and_revoke_within_scope(&*store);
            }
            #[test]
            fn api_tokens_expire_and_revoke_one_by_one_within_scope() {
                let store = $make;
                c::api_tokens_expire_and_revoke_one_by_one_within_scope(&*store);
            }
            #[test]
            fn enrollment_codes_can_be_revoked_within_scope() {
                let store = $make;
                c::enrollment_codes_can_be_revoked_within_scope(&*store);
            }
            #[test]
            fn device_credentials_rotate_retire_and_renew_within_scope() {
                let store = $make;
                c::device_credentials_rotate_retire_and_renew_within_scope(&*store);
            }
            #[test]
            fn a_referral_delivers_only_what_consent_allows() {
                let store = $make;
                c::a_referral_delivers_only_what_consent_allows(&*store);
            }
            #[test]
            fn commands_are_compare_and_set_and_idempotent() {
                let store = $make;
                c::commands_are_compare_and_set_and_idempotent(&*store);
            }
            #[test]
            fn an_accepted_transfer_moves_the_case() {
                let store = $make;
                c::an_accepted_transfer_moves_the_case(&*store);
            }
            #[test]
            fn shared_deliveries_and_transitions_are_audited() {
                let store = $make;
                c::shared_deliveries_and_transitions_are_audited(&*store);
            }
            #[test]
            fn attachments_resume_complete_and_stay_with_their_agency() {
                let store = $make;
                c::attachments_resume_complete_and_stay_with_their_agency(&*store);
            }
            #[test]
            fn a_receiving_agency_sees_an_attachment_only_through_a_shared_field_and_consent() {
                let store = $make;
                c::a_receiving_agency_sees_an_attachment_only_through_a_shared_field_and_consent(
                    &*store,
                );
            }
            #[test]
            fn a_file_that_fails_its_checksum_is_dropped_whole() {
                let store = $make;
                c::a_file_that_fails_its_checksum_is_dropped_whole(&*store);
            }
            #[test]
            fn report_facts_follow_merged_state() {
                let store = $make;
                c::report_facts_follow_merged_state(&*store);
            }
            #[test]
            fn cached_duplicate_candidates_follow_the_log() {
                let store = $make;
                c::cached_duplicate_candidates_follow_the_log(&*store);
            }
            #[test]
            fn cached_reports_follow_the_log_and_decisions() {
                let store = $make;
                c::cached_reports_follow_the_log_and_decisions(&*store);
            }
            #[test]
            fn match_blocks_and_duplicate_decisions() {
                let store = $make;
                c::match_blocks_and_duplicate_decisions(&*store);
            }
            #[test]
            fn concurrent_pushers_each_operation_pulled_exactly_once() {
                let store = $make;
                c::concurrent_pushers_each_operation_pulled_exactly_once(&*store);
            }
            #[test]
            fn commit_order_race_never_skips_a_position() {
                let store = $make;
                c::commit_order_race_never_skips_a_position(&*store);
            }
            #[test]
            fn the_port_reads_back_records_state_and_the_log() {
                let store = $make;
                c::the_port_reads_back_records_state_and_the_log(&*store);
            }
            #[test]
            fn a_handed_over_referral_is_reconciled_once_and_refused_with_reasons() {
                let store = $make;
                c::a_handed_over_referral_is_reconciled_once_and_refused_with_reasons(&*store);
            }
            #[test]
            fn the_port_keeps_secret_settings_sealed() {
                let store = $make;
                c::the_port_keeps_secret_settings_sealed(&*store);
            }
            #[test]
            fn the_port_keeps_agencies_settings_and_records_by_kind() {
                let store = $make;
                c::the_port_keeps_agencies_settings_and_records_by_kind(&*store);
            }
            #[test]
            fn the_port_reads_back_referrals_access_and_commands() {
                let store = $make;
                c::the_port_reads_back_referrals_access_and_commands(&*store);
            }
            #[test]
            fn the_port_stores_attachments_and_chunks() {
                let store = $make;
                c::the_port_stores_attachments_and_chunks(&*store);
            }
            #[test]
            fn a_failed_transaction_leaves_nothing_and_snapshots_do_not_write() {
                let store = $make;
                c::a_failed_transaction_leaves_nothing_and_snapshots_do_not_write(&*store);
            }
            #[test]
            fn the_audit_chain_links_selects_and_verifies() {
                let store = $make;
                c::the_audit_chain_links_selects_and_verifies(&*store);
            }
            #[test]
            fn a_taken_sequence_number_is_refused() {
                let store = $make;
                c::a_taken_sequence_number_is_refused(&*store);
            }
            #[test]
            fn concurrent_audit_writers_keep_one_chain() {
                let store = $make;
                c::concurrent_audit_writers_keep_one_chain(&*store, &[]);
            }
            #[test]
            fn closed_cases_past_retention_are_purged_and_late_edits_refused() {
                let store = $make;
                c::closed_cases_past_retention_are_purged_and_late_edits_refused(&*store);
            }
            #[test]
            fn settings_are_replaced_in_place() {
                let store = $make;
                c::settings_are_replaced_in_place(&*store);
            }
            #[test]
            fn the_port_keeps_store_counters_and_replaces_settings() {
                let store = $make;
                c::the_port_keeps_store_counters_and_replaces_settings(&*store);
            }
            #[test]
            fn a_rolled_back_store_is_refused_for_good() {
                let store = $make;
                c::a_rolled_back_store_is_refused_for_good(&*store);
            }
            #[test]
            fn api_tokens_carry_their_user() {
                let store = $make;
                c::api_tokens_carry_their_user(&*store);
            }
        }
    };
}
pub use crate::conformance_suite;
