//! The rules one answer breaks alone, on the shipped screening form and a household form with
//! a repeat; and a property: on any answers, what [`check_answer_alone`] reports is what
//! [`check_case`] reports for that key, and `check_case` finds nothing it should have.

use super::check_answer_alone;
use crate::forms::{check_case, FormDefinition, FormId};
use crate::model::{Date, Fields, Reason, ValidationError};
use proptest::prelude::*;
use serde_json::{json, Value};

fn screening() -> FormDefinition {
    FormDefinition::from_json(include_bytes!("../../../../../forms/screening.json")).unwrap()
}

/// Household members in a repeat, a phone with a `regex()` and an age range.
fn household() -> FormDefinition {
    FormDefinition::from_value(&json!({
        "id": "household",
        "version": 3,
        "title": {"en": "Household"},
        "default_language": "en",
        "choice_lists": {"rel": [
            {"code": "head", "label": {"en": "Head"}},
            {"code": "child", "label": {"en": "Child"}}
        ]},
        "repeats": {"member": {"label": {"en": "Member"}, "count": "${hh_size}"}},
        "sections": [
            {"fields": [
                {"id": "hh_size", "type": "integer", "label": {"en": "Size"},
                 "constraint": ". >= 1 and . <= 30"},
                {"id": "phone", "type": "text", "label": {"en": "Phone"},
                 "constraint": "regex(., '^\\+?[0-9]{8,15}$')"}
            ]},
            {"repeat": "member", "fields": [
                {"id": "relation", "type": "select_one", "choices": "rel",
                 "label": {"en": "Relation"}},
                {"id": "age", "type": "integer", "label": {"en": "Age"},
                 "constraint": ". >= 0 and . < 120"},
                {"id": "head_age", "type": "integer", "label": {"en": "Head's age"},
                 "constraint": ". <= ${hh_size} * 100"}
            ]}
        ]
    }))
    .unwrap()
}

fn today() -> Date {
    Date::parse("2026-11-29").unwrap()
}

fn alone(form: &FormDefinition, key: &str, value: Value) -> Result<(), ValidationError> {
    check_answer_alone(&[form], true, key, &value, today())
}

fn refused(key: &str, reason: Reason) -> Result<(), ValidationError> {
    Err(ValidationError::new(key, reason))
}

#[test]
fn a_value_of_the_wrong_type_or_an_unknown_code_is_refused_naming_the_field() {
    let form = screening();
    let k = "answers.interview_language";
    assert_eq!(alone(&form, k, json!("am")), Ok(()));
    assert_eq!(
        alone(&form, k, json!("klingon")),
        refused(k, Reason::NotAChoice)
    );
    let k = "answers.is_minor";
    assert_eq!(
        alone(&form, k, json!("no")),
        refused(
            k,
            Reason::WrongType {
                expected: "true or false"
            }
        )
    );
    let k = "answers.intro";
    assert_eq!(
        alone(&form, k, json!("x")),
        refused(k, Reason::NoAnswerExpected)
    );
}

#[test]
fn a_field_of_no_form_the_case_names_is_refused_unless_a_form_is_missing() {
    let form = screening();
    let k = "answers.favourite_colour";
    assert_eq!(alone(&form, k, json!("red")), refused(k, Reason::NotInForm));
    // Without every version the case names, an unknown field may be the missing form's.
    assert_eq!(
        check_answer_alone(&[&form], false, k, &json!("red"), today()),
        Ok(())
    );
    // A case that names no form keeps free answers.
    assert_eq!(
        check_answer_alone(&[], true, k, &json!("red"), today()),
        Ok(())
    );
    // A field that records a core variable is written there.
    let k = "answers.sex";
    assert_eq!(
        alone(&form, k, json!("male")),
        refused(k, Reason::RecordedAsCore)
    );
}

#[test]
fn a_constraint_on_the_value_alone_is_checked_and_one_between_fields_is_not() {
    let form = screening();
    let k = "answers.debt_amount_usd";
    assert_eq!(alone(&form, k, json!(250.5)), Ok(()));
    assert_eq!(
        alone(&form, k, json!(-3)),
        refused(k, Reason::ConstraintFailed)
    );
    let k = "answers.outcome_notes";
    assert_eq!(
        alone(&form, k, json!("too short")),
        refused(k, Reason::ConstraintFailed)
    );
    let k = "answers.screening_consent";
    assert_eq!(
        alone(&form, k, json!(false)),
        refused(k, Reason::ConstraintFailed)
    );
    // `intake_date` records a core variable: its own constraint is checked there too, but
    // `. <= today()` reads the clock — a day that differs when an answer written offline
    // arrives — so it is not refused alone.
    assert_eq!(alone(&form, "intake_date", json!("2026-12-30")), Ok(()));
    // `screening_consent` (`. = 'yes'`) records no core variable; one that does and reads
    // only `.` is checked under the core key.
    let mut consent_core = form.clone();
    for field in consent_core.sections.iter_mut().flat_map(|s| &mut s.fields) {
        if field.id.as_str() == "debt_amount_usd" {
            field.core = Some("debt".to_owned());
        }
    }
    assert_eq!(
        alone(&consent_core, "debt", json!(-1)),
        refused("debt", Reason::ConstraintFailed)
    );
    // `categories` must hold a code when `${screening_outcome}` says so: between fields.
    assert_eq!(alone(&form, "categories", json!(["other"])), Ok(()));
}

#[test]
fn a_regex_and_a_range_hold_in_every_repeat_instance() {
    let form = household();
    assert_eq!(alone(&form, "answers.phone", json!("+66812345678")), Ok(()));
    assert_eq!(
        alone(&form, "answers.phone", json!("call me")),
        refused("answers.phone", Reason::ConstraintFailed)
    );
    let k = "answers.member.m1.age";
    assert_eq!(alone(&form, k, json!(40)), Ok(()));
    assert_eq!(
        alone(&form, k, json!(130)),
        refused(k, Reason::ConstraintFailed)
    );
    // Reads `${hh_size}`: a rule between fields.
    assert_eq!(
        alone(&form, "answers.member.m1.head_age", json!(999)),
        Ok(())
    );
    assert_eq!(
        alone(&form, "answers.age", json!(3)),
        refused("answers.age", Reason::InRepeat)
    );
    assert_eq!(
        alone(&form, "answers.other.m1.age", json!(3)),
        refused("answers.other.m1.age", Reason::NotInForm)
    );
    assert_eq!(
        alone(&form, "answers.member.m1.phone", json!("+66812345678")),
        refused("answers.member.m1.phone", Reason::NotInForm)
    );
}

/// The reasons [`check_answer_alone`] can give, besides a constraint.
fn decided_alone(reason: &Reason) -> bool {
    !matches!(
        reason,
        Reason::Required
            | Reason::NotRelevant
            | Reason::ConstraintFailed
            | Reason::TooManyItems { .. }
            | Reason::FormNotHeld
            | Reason::InvalidFieldId
            | Reason::InvalidFormVersion
    )
}

/// A value for a field: often right, sometimes a wrong code, type or range.
fn a_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(true)),
        Just(json!(false)),
        Just(json!("yes")),
        Just(json!("am")),
        Just(json!("klingon")),
        Just(json!("job_offer")),
        Just(json!("presumed_victim")),
        Just(json!("unclear")),
        Just(json!("Seen at the border post, calm")),
        Just(json!("short")),
        Just(json!("2024-03")),
        Just(json!("2026-13-40")),
        Just(json!(["shelter", "medical"])),
        Just(json!(["shelter", "shelter"])),
        Just(json!(["nonsense"])),
        Just(json!(-4)),
        Just(json!(120.5)),
        Just(json!(7)),
    ]
}

fn answers() -> impl Strategy<Value = Fields> {
    let keys: Vec<String> = screening()
        .fields()
        .map(|f| f.id.key())
        .chain(["answers.not_a_field".to_owned()])
        .collect();
    proptest::collection::btree_map(proptest::sample::select(keys), a_value(), 0..12).prop_map(
        |mut answers| {
            answers.insert("forms.iom_screening".to_owned(), json!(1));
            answers
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The server (each value alone) and the device (the whole case) agree: an answer refused
    /// alone is refused by `check_case` for the same reason (or as hidden, where `check_case`
    /// stops), and every error `check_case` gives for a rule that reads one answer is one
    /// `check_answer_alone` gives.
    #[test]
    fn alone_agrees_with_the_whole_case(fields in answers()) {
        let form = screening();
        let lookup = |_: &FormId, _: u32| Some(&form);
        let whole = check_case(&fields, &lookup, today()).err().map(|e| e.0).unwrap_or_default();
        let mut refused_alone = Vec::new();
        for (key, value) in &fields {
            if let Err(error) = check_answer_alone(&[&form], true, key, value, today()) {
                let hidden = ValidationError::new(error.field.clone(), Reason::NotRelevant);
                prop_assert!(
                    whole.contains(&error) || whole.contains(&hidden),
                    "{error} alone, not in {whole:?}"
                );
                refused_alone.push(error);
            }
        }
        for error in &whole {
            let own_constraint = error.reason == Reason::ConstraintFailed
                && form
                    .fields()
                    .find(|f| error.field == f.id.key() || f.core.as_deref() == Some(&error.field))
                    .and_then(|f| f.constraint.as_ref())
                    .is_some_and(|c| c.expr.reads_only_current());
            if decided_alone(&error.reason) || own_constraint {
                prop_assert!(refused_alone.contains(error), "{error} missed alone");
            }
        }
    }
}
