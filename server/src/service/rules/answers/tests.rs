//! Pushed answers against real forms — the shipped IOM screening form and the corpus's case
//! management workbook — without a database; and a property: on any answers, the server's
//! verdict (refused, or accepted with what the review flag lists) is the device's.

use super::super::tests::{agency, decide_now, op, Records, NOW_MS};
use super::super::{Decision, StoredRecord};
use crate::service::review;
use fieldcase_core::forms::{check_case, FormDefinition, FormId};
use fieldcase_core::model::{Case, Date, Fields};
use fieldcase_core::protocol::RejectReason;
use fieldcase_core::{RecordId, RecordKind};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const A: &str = "a_ngo";

fn screening() -> FormDefinition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../forms/screening.json");
    FormDefinition::from_json(&std::fs::read(path).unwrap()).unwrap()
}

fn case_management() -> FormDefinition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/corpus/case_management.xlsx");
    crate::cli::admin_forms::read_form_file(&path).unwrap()
}

fn publish(records: &mut Records, owner: &str, form: FormDefinition) {
    let key = (agency(owner), form.id.clone(), form.version);
    records.forms.insert(key, Arc::new(form));
}

fn screening_published() -> Records {
    let mut records = Records::default();
    publish(&mut records, A, screening());
    records
}

/// The start of a screening, as a device writes it (the server's day is 2026-01-10).
fn screening_start() -> Vec<(&'static str, Value)> {
    vec![
        ("forms.iom_screening", json!(1)),
        ("intake_date", json!("2026-01-08")),
        ("answers.screening_consent", json!(true)),
        ("answers.interview_language", json!("am")),
        ("answers.is_minor", json!(false)),
    ]
}

fn with(
    mut fields: Vec<(&'static str, Value)>,
    key: &'static str,
    value: Value,
) -> Vec<(&'static str, Value)> {
    fields.retain(|(k, _)| *k != key);
    fields.push((key, value));
    fields
}

fn new_case(fields: &[(&str, Value)]) -> fieldcase_core::Operation {
    op(RecordKind::Case, RecordId::new(), fields)
}

fn created() -> Decision {
    Decision::Create(StoredRecord {
        kind: RecordKind::Case,
        owner_agency: agency(A),
        case_id: None,
    })
}

/// The refusal's text, asserting it is `Invalid` and quotes no value.
fn refusal(decision: Decision, values: &[&str]) -> String {
    let Decision::Reject(RejectReason::Invalid { detail }) = decision else {
        panic!("expected Invalid, got {decision:?}");
    };
    for value in values {
        assert!(!detail.contains(value), "{detail} quotes {value}");
    }
    detail
}

#[test]
fn valid_screening_answers_are_accepted() {
    let mut records = screening_published();
    let start = new_case(&screening_start());
    assert_eq!(decide_now(&mut records, A, &start), created());
}

#[test]
fn a_code_not_in_the_list_is_refused_naming_the_field_not_the_value() {
    let mut records = screening_published();
    let fields = with(
        screening_start(),
        "answers.interview_language",
        json!("klingon"),
    );
    let detail = refusal(
        decide_now(&mut records, A, &new_case(&fields)),
        &["klingon"],
    );
    assert!(
        detail.contains("answers.interview_language: not one of the field's choices"),
        "{detail}"
    );
}

#[test]
fn a_field_of_no_form_and_a_value_breaking_its_own_constraint_are_refused() {
    let mut records = screening_published();
    let fields = with(screening_start(), "answers.shoe_size", json!(44));
    let detail = refusal(decide_now(&mut records, A, &new_case(&fields)), &["44"]);
    assert!(
        detail.contains("answers.shoe_size: not a field of the case's forms"),
        "{detail}"
    );

    let fields = with(screening_start(), "answers.debt_amount_usd", json!(-250));
    let detail = refusal(decide_now(&mut records, A, &new_case(&fields)), &["250"]);
    assert!(
        detail.contains("answers.debt_amount_usd: does not satisfy the field's constraint"),
        "{detail}"
    );
}

#[test]
fn a_regex_on_a_phone_number_is_the_device_s() {
    let mut records = Records::default();
    publish(&mut records, A, case_management());
    let base = vec![
        ("forms.case_management", json!(20100)),
        ("answers.dob", json!("2010-04-12")),
        ("answers.country", json!("UGA")),
    ];
    let good = with(base.clone(), "answers.phone", json!("+66812345678"));
    assert_eq!(decide_now(&mut records, A, &new_case(&good)), created());
    let bad = with(base, "answers.phone", json!("08-1234"));
    let detail = refusal(decide_now(&mut records, A, &new_case(&bad)), &["08-1234"]);
    assert!(
        detail.contains("answers.phone: does not satisfy the field's constraint"),
        "{detail}"
    );
}

#[test]
fn rules_between_fields_never_refuse() {
    let mut records = screening_published();
    // `accompanied` is shown only for a minor, `outcome_notes` required when unclear, and
    // `categories` must name trafficking for a presumed victim: all between fields.
    let mut fields = with(screening_start(), "answers.accompanied", json!(true));
    fields.push(("answers.screening_outcome", json!("unclear")));
    let accepted = new_case(&fields);
    assert_eq!(decide_now(&mut records, A, &accepted), created());
}

#[test]
fn a_form_version_not_published_for_the_agency_is_refused() {
    let mut records = Records::default();
    publish(&mut records, "b_ngo", screening());
    let detail = refusal(
        decide_now(&mut records, A, &new_case(&screening_start())),
        &[],
    );
    assert!(
        detail.contains(
            "forms.iom_screening: this form version is not published for the agency on the server"
        ),
        "{detail}"
    );
    let mut records = screening_published();
    let fields = with(screening_start(), "forms.iom_screening", json!(2));
    refusal(decide_now(&mut records, A, &new_case(&fields)), &[]);
}

/// A case of `A` that names `forms`.
fn existing_case(records: &mut Records, forms: &[(&str, u32)]) -> RecordId {
    let case = RecordId::new();
    records.records.insert(
        case,
        StoredRecord {
            kind: RecordKind::Case,
            owner_agency: agency(A),
            case_id: None,
        },
    );
    let named = forms
        .iter()
        .map(|(id, v)| (FormId::parse(id).unwrap(), *v))
        .collect();
    records.case_forms.insert(case, named);
    case
}

#[test]
fn an_edit_is_checked_against_the_forms_its_case_names() {
    let mut records = screening_published();
    let case = existing_case(&mut records, &[("iom_screening", 1)]);
    let edit = op(
        RecordKind::Case,
        case,
        &[("answers.referred_by", json!("police"))],
    );
    assert!(matches!(
        decide_now(&mut records, A, &edit),
        Decision::Append { .. }
    ));
    let edit = op(
        RecordKind::Case,
        case,
        &[("answers.referred_by", json!("aliens"))],
    );
    refusal(decide_now(&mut records, A, &edit), &["aliens"]);
    // Taking the case off its form frees its answers (as on a device).
    let off = op(
        RecordKind::Case,
        case,
        &[
            ("forms.iom_screening", Value::Null),
            ("answers.anything", json!("x")),
        ],
    );
    assert!(matches!(
        decide_now(&mut records, A, &off),
        Decision::Append { .. }
    ));
}

#[test]
fn an_answer_written_offline_under_the_version_the_case_left_is_kept() {
    let mut records = screening_published();
    // Version 2 drops `referred_by`; the case moved to it while a device, offline, still had
    // version 1 and answered the question.
    let mut v2 = screening();
    v2.version = 2;
    for section in &mut v2.sections {
        section.fields.retain(|f| f.id.as_str() != "referred_by");
    }
    publish(&mut records, A, v2);
    let case = existing_case(&mut records, &[("iom_screening", 2)]);
    let late = op(
        RecordKind::Case,
        case,
        &[("answers.referred_by", json!("police"))],
    );
    assert!(matches!(
        decide_now(&mut records, A, &late),
        Decision::Append { .. }
    ));
    // A field of no version is still refused, and so is a late code of no version.
    let unknown = op(RecordKind::Case, case, &[("answers.shoe_size", json!(44))]);
    refusal(decide_now(&mut records, A, &unknown), &[]);
    let wrong = op(
        RecordKind::Case,
        case,
        &[("answers.referred_by", json!("aliens"))],
    );
    refusal(decide_now(&mut records, A, &wrong), &["aliens"]);
}

#[test]
fn a_case_naming_a_version_from_before_the_check_is_not_refused_for_unknown_fields() {
    let mut records = screening_published();
    let case = existing_case(&mut records, &[("old_form", 7)]);
    let edit = op(
        RecordKind::Case,
        case,
        &[("answers.old_question", json!("x"))],
    );
    assert!(matches!(
        decide_now(&mut records, A, &edit),
        Decision::Append { .. }
    ));
}

/// Answers a device might push for the screening form: often right, sometimes a wrong code,
/// type, range or field.
fn answers() -> impl Strategy<Value = Fields> {
    let keys: Vec<String> = screening()
        .fields()
        .filter(|f| f.core.is_none())
        .map(|f| f.id.key())
        .chain(["answers.shoe_size".to_owned()])
        .collect();
    let value = prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!("am")),
        Just(json!("klingon")),
        Just(json!("job_offer")),
        Just(json!("presumed_victim")),
        Just(json!("unclear")),
        Just(json!("Interviewed at the shelter")),
        Just(json!("short")),
        Just(json!("2025-03")),
        Just(json!(["shelter", "medical"])),
        Just(json!(["nonsense"])),
        Just(json!(-4)),
        Just(json!(120.5)),
    ];
    proptest::collection::btree_map(proptest::sample::select(keys), value, 0..10).prop_map(
        |mut answers| {
            answers.insert("forms.iom_screening".to_owned(), json!(1));
            answers.insert("intake_date".to_owned(), json!("2026-01-08"));
            answers
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A new case pushed raw: the server refuses it only if the device would, and when it
    /// accepts, the device accepts exactly when the review flag would list nothing — and the
    /// flag lists exactly the device's errors.
    #[test]
    fn the_server_and_the_device_agree(fields in answers()) {
        let form = screening();
        let today = Date::parse("2026-01-10").unwrap();
        let lookup = |_: &FormId, _: u32| Some(&form);
        let device = Case::parse_fields_as_of(&fields, today)
            .err()
            .map(|e| e.0)
            .unwrap_or_default()
            .into_iter()
            .chain(check_case(&fields, &lookup, today).err().map(|e| e.0).unwrap_or_default())
            .collect::<Vec<_>>();
        let mut records = screening_published();
        let pushed: Vec<(&str, Value)> =
            fields.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        match decide_now(&mut records, A, &new_case(&pushed)) {
            Decision::Reject(RejectReason::Invalid { detail }) => {
                prop_assert!(!device.is_empty(), "refused ({detail}), the device accepts");
                for refused in device_fields(&detail) {
                    prop_assert!(
                        device.iter().any(|e| e.field == refused),
                        "{refused} refused, the device finds nothing there: {device:?}"
                    );
                }
            }
            Decision::Create(_) => {
                let held: BTreeMap<_, _> =
                    [((form.id.clone(), form.version), Arc::new(form.clone()))].into();
                let flagged = review::reasons(&fields, &held, NOW_MS);
                let device: Vec<(String, String)> =
                    device.iter().map(|e| (e.field.clone(), e.reason.to_string())).collect();
                let flagged: Vec<(String, String)> =
                    flagged.into_iter().map(|r| (r.field, r.reason)).collect();
                prop_assert_eq!(device, flagged);
            }
            other => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

/// The fields a refusal's text names (`N invalid fields: f: reason; g: reason`).
fn device_fields(detail: &str) -> Vec<String> {
    let list = detail.split_once(": ").map_or("", |(_, rest)| rest);
    list.split("; ")
        .filter_map(|e| e.split_once(": ").map(|(field, _)| field.to_owned()))
        .collect()
}
