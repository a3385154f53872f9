//! The rules checked without a database: a map stands in for the push transaction.

use super::*;
use fieldcase_core::{DeviceId, Hlc, OpId};
use std::collections::HashMap;
use std::convert::Infallible;

#[derive(Default)]
pub(super) struct Records {
    pub records: HashMap<RecordId, StoredRecord>,
    pub created: HashMap<RecordId, BTreeMap<String, FieldChange>>,
    pub referrals: HashMap<(RecordId, AgencyCode), Vec<ReferralGrant>>,
    /// Published form versions, by agency.
    pub forms: HashMap<(AgencyCode, FormId, u32), Arc<FormDefinition>>,
    /// The forms each case names now.
    pub case_forms: HashMap<RecordId, BTreeMap<FormId, u32>>,
}

impl RecordLookup for Records {
    type Error = Infallible;
    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, Infallible> {
        Ok(self.records.get(&id).cloned())
    }
    fn creation_fields(
        &mut self,
        id: RecordId,
    ) -> Result<Option<BTreeMap<String, FieldChange>>, Infallible> {
        Ok(self.created.get(&id).cloned())
    }
    fn is_purged(&mut self, _id: RecordId) -> Result<bool, Infallible> {
        Ok(false)
    }
    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, Infallible> {
        Ok(agency.as_str() != "nowhere")
    }
    fn referrals_to(
        &mut self,
        case: RecordId,
        agency: &AgencyCode,
    ) -> Result<Vec<ReferralGrant>, Infallible> {
        Ok(self
            .referrals
            .get(&(case, agency.clone()))
            .cloned()
            .unwrap_or_default())
    }
    fn form(
        &mut self,
        agency: &AgencyCode,
        id: &FormId,
        version: u32,
    ) -> Result<Option<Arc<FormDefinition>>, Infallible> {
        Ok(self
            .forms
            .get(&(agency.clone(), id.clone(), version))
            .cloned())
    }
    fn form_versions(&mut self, agency: &AgencyCode, id: &FormId) -> Result<Vec<u32>, Infallible> {
        let mut versions: Vec<u32> = self
            .forms
            .keys()
            .filter(|(a, i, _)| a == agency && i == id)
            .map(|(_, _, v)| *v)
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }
    fn case_forms(&mut self, case: RecordId) -> Result<BTreeMap<FormId, u32>, Infallible> {
        Ok(self.case_forms.get(&case).cloned().unwrap_or_default())
    }
}

/// The server's clock in these tests: 2026-01-10.
pub(super) const NOW_MS: u64 = 1_768_003_200_000;

pub(super) fn agency(code: &str) -> AgencyCode {
    AgencyCode::parse(code).unwrap()
}

/// A valid service of `case` provided by `provider`.
fn service_fields(case: &str, provider: &str) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (CASE_ID_FIELD, case.into()),
        ("service_type", "shelter".into()),
        ("date", "2026-01-05".into()),
        ("provider_agency", provider.into()),
    ]
}

/// A valid note of `case`.
fn note_fields(case: &str, text: &str) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (CASE_ID_FIELD, case.into()),
        ("text", text.into()),
        ("written_on", "2026-01-05".into()),
        ("author", "u-1".into()),
    ]
}

pub(super) fn op(
    kind: RecordKind,
    record: RecordId,
    fields: &[(&str, serde_json::Value)],
) -> Operation {
    let device = DeviceId::from_bytes([1; 16]);
    Operation {
        op_id: OpId { device, seq: 1 },
        kind,
        record_id: record,
        hlc: Hlc {
            wall_ms: 1,
            counter: 0,
            device,
        },
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), FieldChange::fresh(v.clone())))
            .collect(),
    }
}

pub(super) fn decide_now(records: &mut Records, agency_code: &str, op: &Operation) -> Decision {
    match decide(&agency(agency_code), op, NOW_MS, records) {
        Ok(decision) => decision,
        Err(never) => match never {},
    }
}

fn with_case(owner: &str) -> (Records, RecordId) {
    let mut records = Records::default();
    let case = RecordId::new();
    records.records.insert(
        case,
        StoredRecord {
            kind: RecordKind::Case,
            owner_agency: agency(owner),
            case_id: None,
        },
    );
    (records, case)
}

#[test]
fn a_new_case_is_created_for_the_device_agency() {
    let mut records = Records::default();
    let new_case = op(
        RecordKind::Case,
        RecordId::new(),
        &[("sex", "female".into())],
    );
    assert_eq!(
        decide_now(&mut records, "a_ngo", &new_case),
        Decision::Create(StoredRecord {
            kind: RecordKind::Case,
            owner_agency: agency("a_ngo"),
            case_id: None
        })
    );
}

#[test]
fn another_agency_record_is_forbidden_whatever_the_kind() {
    let (mut records, case) = with_case("b_ngo");
    assert_eq!(
        decide_now(&mut records, "a_ngo", &op(RecordKind::Case, case, &[])),
        Decision::Reject(RejectReason::Forbidden)
    );
    assert_eq!(
        decide_now(
            &mut records,
            "a_ngo",
            &op(RecordKind::Note, case, &note_fields(&case.to_string(), "x"))
        ),
        Decision::Reject(RejectReason::Forbidden)
    );
}

#[test]
fn a_service_needs_a_case_of_the_device_agency() {
    let (mut records, case) = with_case("b_ngo");
    let service = |case: &str| {
        op(
            RecordKind::Service,
            RecordId::new(),
            &service_fields(case, "a_ngo"),
        )
    };
    let foreign = decide_now(&mut records, "a_ngo", &service(&case.to_string()));
    let missing = decide_now(
        &mut records,
        "a_ngo",
        &service(&RecordId::new().to_string()),
    );
    assert_eq!(foreign, Decision::Reject(RejectReason::Forbidden));
    assert_eq!(
        foreign, missing,
        "a foreign case must look like a missing one"
    );
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &service("not an id")),
        Decision::Reject(RejectReason::Invalid { .. })
    ));
    let own = op(
        RecordKind::Service,
        RecordId::new(),
        &service_fields(&case.to_string(), "b_ngo"),
    );
    assert!(matches!(
        decide_now(&mut records, "b_ngo", &own),
        Decision::Create(StoredRecord { case_id: Some(c), .. }) if c == case
    ));
}

#[test]
fn append_only_records_accept_only_exact_repeats() {
    let (mut records, case) = with_case("a_ngo");
    let note = RecordId::new();
    let fields = note_fields(&case.to_string(), "first");
    let created = op(RecordKind::Note, note, &fields);
    records.records.insert(
        note,
        StoredRecord {
            kind: RecordKind::Note,
            owner_agency: agency("a_ngo"),
            case_id: Some(case),
        },
    );
    records.created.insert(note, created.fields.clone());
    assert_eq!(
        decide_now(&mut records, "a_ngo", &created),
        Decision::AlreadyRecorded
    );
    let edit = op(
        RecordKind::Note,
        note,
        &note_fields(&case.to_string(), "changed"),
    );
    assert_eq!(
        decide_now(&mut records, "a_ngo", &edit),
        Decision::Reject(RejectReason::NotEditable)
    );
}

#[test]
fn a_kind_change_and_a_borrowed_clock_are_invalid() {
    let (mut records, case) = with_case("a_ngo");
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &op(RecordKind::Referral, case, &[])),
        Decision::Reject(RejectReason::Invalid { .. })
    ));
    let mut borrowed = op(RecordKind::Case, case, &[]);
    borrowed.hlc.device = DeviceId::from_bytes([9; 16]);
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &borrowed),
        Decision::Reject(RejectReason::Invalid { .. })
    ));
}

fn referral_fields(case: RecordId, from: &str, to: &str) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("case_id", case.to_string().into()),
        ("from_agency", from.into()),
        ("to_agency", to.into()),
        ("services", serde_json::json!(["shelter"])),
        ("reason", "needs a bed".into()),
        ("urgency", "high".into()),
        ("shared_fields", serde_json::json!(["sex", "given_name"])),
        ("transfer", false.into()),
        ("share_back", true.into()),
        ("created_by", "u-1".into()),
        ("created_on", "2026-01-05".into()),
    ]
}

#[test]
fn a_referral_is_made_by_the_case_owner_to_a_known_agency() {
    let (mut records, case) = with_case("a_ngo");
    let new = op(
        RecordKind::Referral,
        RecordId::new(),
        &referral_fields(case, "a_ngo", "b_ngo"),
    );
    match decide_now(&mut records, "a_ngo", &new) {
        Decision::CreateReferral { record, referral } => {
            assert_eq!(record.case_id, Some(case));
            assert_eq!(record.owner_agency, agency("a_ngo"));
            assert!(
                referral.shared_fields.contains("given_name"),
                "consent is applied when delivering, not here"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide_now(&mut records, "b_ngo", &{
            let mut o = new.clone();
            o.fields = op(
                RecordKind::Referral,
                new.record_id,
                &referral_fields(case, "b_ngo", "a_ngo"),
            )
            .fields;
            o
        }),
        Decision::Reject(RejectReason::Forbidden),
        "only the owner of the case refers it"
    );
    let spoofed = op(
        RecordKind::Referral,
        RecordId::new(),
        &referral_fields(case, "c_ngo", "b_ngo"),
    );
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &spoofed),
        Decision::Reject(RejectReason::Invalid { .. })
    ));
    let nowhere = op(
        RecordKind::Referral,
        RecordId::new(),
        &referral_fields(case, "a_ngo", "nowhere"),
    );
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &nowhere),
        Decision::Reject(RejectReason::Invalid { .. })
    ));
    let mut with_status = referral_fields(case, "a_ngo", "b_ngo");
    with_status.push(("status", "accepted".into()));
    let forged = op(RecordKind::Referral, RecordId::new(), &with_status);
    match decide_now(&mut records, "a_ngo", &forged) {
        Decision::Reject(RejectReason::Invalid { detail }) => {
            assert!(detail.contains("only by the server"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_receiving_agency_adds_services_only_after_accepting() {
    let (mut records, case) = with_case("a_ngo");
    let service = op(
        RecordKind::Service,
        RecordId::new(),
        &service_fields(&case.to_string(), "b_ngo"),
    );
    assert_eq!(
        decide_now(&mut records, "b_ngo", &service),
        Decision::Reject(RejectReason::Forbidden)
    );
    records.referrals.insert(
        (case, agency("b_ngo")),
        vec![ReferralGrant {
            status: ReferralStatus::Sent,
            share_back: true,
        }],
    );
    assert_eq!(
        decide_now(&mut records, "b_ngo", &service),
        Decision::Reject(RejectReason::Forbidden),
        "not before accepting"
    );
    records.referrals.insert(
        (case, agency("b_ngo")),
        vec![ReferralGrant {
            status: ReferralStatus::Accepted,
            share_back: false,
        }],
    );
    assert!(matches!(
        decide_now(&mut records, "b_ngo", &service),
        Decision::Create(StoredRecord { owner_agency, .. }) if owner_agency == agency("b_ngo")
    ));
}

#[test]
fn invalid_case_values_are_refused_and_name_only_the_key() {
    let mut records = Records::default();
    let bad = op(
        RecordKind::Case,
        RecordId::new(),
        &[
            ("sex", "Maria-Secret".into()),
            ("nickname", "x".into()),
            ("given_name", serde_json::json!([0, 0, 0])),
        ],
    );
    match decide_now(&mut records, "a_ngo", &bad) {
        Decision::Reject(RejectReason::Invalid { detail }) => {
            assert!(
                detail.contains("sex") && detail.contains("given_name"),
                "{detail}"
            );
            assert!(!detail.contains("Maria"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // An edit carries only the fields it changes: a lone valid value is accepted.
    let edit = op(
        RecordKind::Case,
        RecordId::new(),
        &[("status", "closed".into())],
    );
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &edit),
        Decision::Create(_)
    ));
}

#[test]
fn answers_of_repeat_instances_are_checked_like_other_answers() {
    let mut records = Records::default();
    // One household member's answers, as a device writes them.
    let member = op(
        RecordKind::Case,
        RecordId::new(),
        &[
            ("answers.hh_size", 3.into()),
            ("answers.member.0k3x9q.member_name", "Aye Aye".into()),
            ("answers.member.0k3x9q.member_age", 41.into()),
        ],
    );
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &member),
        Decision::Create(_)
    ));
    for bad_key in [
        "answers.member.0k_3.member_name",
        "answers.member.0k3x9q",
        "answers.member.0k3x9q.member_name.extra",
    ] {
        let bad = op(
            RecordKind::Case,
            RecordId::new(),
            &[(bad_key, "Aye Aye".into())],
        );
        match decide_now(&mut records, "a_ngo", &bad) {
            Decision::Reject(RejectReason::Invalid { detail }) => {
                assert!(detail.contains(bad_key), "{detail}");
                assert!(!detail.contains("Aye"), "{detail}");
            }
            other => panic!("{bad_key}: {other:?}"),
        }
    }
}

#[test]
fn a_service_is_provided_by_the_device_agency() {
    let (mut records, case) = with_case("a_ngo");
    let theirs = op(
        RecordKind::Service,
        RecordId::new(),
        &service_fields(&case.to_string(), "b_ngo"),
    );
    match decide_now(&mut records, "a_ngo", &theirs) {
        Decision::Reject(RejectReason::Invalid { detail }) => {
            assert!(detail.contains("provider_agency"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_clock_far_ahead_of_the_server_is_refused() {
    let mut records = Records::default();
    let mut ahead = op(RecordKind::Case, RecordId::new(), &[("sex", "male".into())]);
    ahead.hlc.wall_ms = NOW_MS + MAX_CLOCK_AHEAD_MS + 1;
    assert_eq!(
        decide_now(&mut records, "a_ngo", &ahead),
        Decision::Reject(RejectReason::ClockAhead {
            op_time_ms: NOW_MS + MAX_CLOCK_AHEAD_MS + 1,
            server_time_ms: NOW_MS
        })
    );
    ahead.hlc.wall_ms = NOW_MS + MAX_CLOCK_AHEAD_MS;
    assert!(matches!(
        decide_now(&mut records, "a_ngo", &ahead),
        Decision::Create(_)
    ));
}

#[test]
fn server_ids_are_refused_whether_or_not_they_exist() {
    let form_id = fieldcase_core::model::FieldId::parse("intake").unwrap();
    let future = fieldcase_core::store::form_record_id("b_ngo", &form_id, 7);
    let published = fieldcase_core::store::form_record_id("b_ngo", &form_id, 1);
    let mut records = Records::default();
    records.records.insert(
        published,
        StoredRecord {
            kind: RecordKind::Form,
            owner_agency: agency("b_ngo"),
            case_id: None,
        },
    );
    let squat = |id| op(RecordKind::Case, id, &[("sex", "male".into())]);
    let unknown = decide_now(&mut records, "a_ngo", &squat(future));
    let existing = decide_now(&mut records, "a_ngo", &squat(published));
    assert_eq!(unknown, Decision::Reject(RejectReason::Forbidden));
    assert_eq!(unknown, existing);
    assert!(!RecordId::new().is_server_authored());
}

#[test]
fn an_invalid_operation_gets_one_answer_for_unknown_and_foreign_ids() {
    let (mut records, foreign) = with_case("b_ngo");
    let probe = |id| {
        op(
            RecordKind::Note,
            id,
            &[(CASE_ID_FIELD, serde_json::Value::from("not an id"))],
        )
    };
    let on_foreign = decide_now(&mut records, "a_ngo", &probe(foreign));
    let on_unknown = decide_now(&mut records, "a_ngo", &probe(RecordId::new()));
    assert!(matches!(
        on_foreign,
        Decision::Reject(RejectReason::Invalid { .. })
    ));
    assert_eq!(on_foreign, on_unknown);
}
