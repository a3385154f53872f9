//! Form definitions and the validation of answers against them: every field type, required
//! only when shown, constraints only when answered, conditions on sections and fields, and
//! errors that name the field but never the value.

use fieldcase_core::forms::{check_case, check_form, DefinitionError, FormDefinition, FormId};
use fieldcase_core::model::{Date, Fields, Reason, ValidationErrors};
use serde_json::{json, Value};

fn today() -> Date {
    Date::parse("2026-11-29").unwrap()
}

/// A form with one field of every type, conditions and a core mapping.
fn form() -> FormDefinition {
    FormDefinition::from_value(&json!({
        "id": "all_types",
        "version": 1,
        "title": {"en": "All types", "fr": "Tous les types"},
        "default_language": "en",
        "choice_lists": {
            "needs": [
                {"code": "shelter", "label": {"en": "Shelter", "fr": "Hébergement"}},
                {"code": "medical", "label": {"en": "Medical", "fr": "Médical"}},
                {"code": "legal", "label": {"en": "Legal", "fr": "Juridique"}}
            ],
            "sex": [
                {"code": "female", "label": {"en": "Female", "fr": "Femme"}},
                {"code": "male", "label": {"en": "Male", "fr": "Homme"}}
            ]
        },
        "sections": [
            {"id": "person", "label": {"en": "Person", "fr": "Personne"}, "fields": [
                {"id": "intro", "type": "note", "label": {"en": "Read aloud", "fr": "Lire"}},
                {"id": "sex", "type": "select_one", "choices": "sex", "core": "sex",
                 "required": true, "label": {"en": "Sex", "fr": "Sexe"}},
                {"id": "nickname", "type": "text", "label": {"en": "Nickname", "fr": "Surnom"},
                 "constraint": "string-length(.) <= 10"},
                {"id": "age", "type": "integer", "required": true,
                 "label": {"en": "Age", "fr": "Âge"}, "constraint": ". >= 0 and . <= 120"},
                {"id": "height", "type": "decimal", "label": {"en": "Height", "fr": "Taille"},
                 "constraint": ". > 0.3"},
                {"id": "arrived", "type": "date", "label": {"en": "Arrived", "fr": "Arrivée"},
                 "constraint": ". <= today()"},
                {"id": "left_home", "type": "partial_date",
                 "label": {"en": "Left home", "fr": "Départ"}},
                {"id": "origin", "type": "country", "label": {"en": "Origin", "fr": "Origine"}},
                {"id": "pregnant", "type": "yes_no", "label": {"en": "Pregnant", "fr": "Enceinte"},
                 "relevant": "${sex} = 'female' and ${age} >= 12", "required": true}
            ]},
            {"id": "needs_section", "label": {"en": "Needs", "fr": "Besoins"},
             "relevant": "${age} >= 18", "fields": [
                {"id": "needs", "type": "select_multiple", "choices": "needs", "required": true,
                 "label": {"en": "Needs", "fr": "Besoins"},
                 "constraint": "count-selected(.) <= 2"},
                {"id": "medical_detail", "type": "text", "required": true,
                 "relevant": "selected(${needs}, 'medical')",
                 "label": {"en": "Medical detail", "fr": "Détail médical"}}
            ]}
        ]
    }))
    .unwrap()
}

fn fields(value: Value) -> Fields {
    let mut out = Fields::new();
    for (k, v) in value.as_object().unwrap() {
        out.insert(k.clone(), v.clone());
    }
    out
}

fn errors(form: &FormDefinition, value: Value) -> ValidationErrors {
    check_form(form, &fields(value), today()).expect_err("should be invalid")
}

fn valid_answers() -> Value {
    json!({
        "sex": "female",
        "answers.nickname": "Ami",
        "answers.age": 34,
        "answers.height": 1.62,
        "answers.arrived": "2026-10-01",
        "answers.left_home": "2025-11",
        "answers.origin": "UGA",
        "answers.pregnant": false,
        "answers.needs": ["shelter", "medical"],
        "answers.medical_detail": "Needs follow-up"
    })
}

#[test]
fn a_complete_answer_set_is_valid() {
    check_form(&form(), &fields(valid_answers()), today()).unwrap();
}

#[test]
fn every_type_rejects_wrong_values() {
    let f = form();
    let wrong = [
        (
            "answers.nickname",
            json!(5),
            Reason::WrongType {
                expected: "a string",
            },
        ),
        ("answers.nickname", json!("  "), Reason::EmptyText),
        (
            "answers.age",
            json!(3.5),
            Reason::WrongType {
                expected: "a whole number",
            },
        ),
        (
            "answers.age",
            json!("34"),
            Reason::WrongType {
                expected: "a whole number",
            },
        ),
        (
            "answers.height",
            json!("tall"),
            Reason::WrongType {
                expected: "a number",
            },
        ),
        ("answers.arrived", json!("2026-10"), Reason::PartialDate),
        (
            "answers.arrived",
            json!("2026-02-30"),
            Reason::ImpossibleDate,
        ),
        (
            "answers.left_home",
            json!("last year"),
            Reason::MalformedDate {
                expected: "YYYY-MM-DD, YYYY-MM or YYYY",
            },
        ),
        ("answers.origin", json!("XXX"), Reason::NotCountry),
        (
            "answers.pregnant",
            json!("no"),
            Reason::WrongType {
                expected: "true or false",
            },
        ),
        ("answers.needs", json!(["food"]), Reason::NotAChoice),
        (
            "answers.needs",
            json!(["legal", "legal"]),
            Reason::DuplicateItem,
        ),
        (
            "answers.needs",
            json!([]),
            Reason::WrongType {
                expected: "a non-empty list of choice codes",
            },
        ),
        ("answers.intro", json!("x"), Reason::NoAnswerExpected),
    ];
    for (key, value, reason) in wrong {
        let mut answers = valid_answers();
        answers[key] = value;
        let e = errors(&f, answers);
        assert!(e.contains(key, &reason), "{key}: {e:?}");
    }
}

#[test]
fn select_one_checks_the_choice_list() {
    // `sex` maps to the core variable, whose codes the case model checks; an unmapped
    // select_one is checked against its list here.
    let f = FormDefinition::from_value(&json!({
        "id": "one", "version": 1, "title": {"en": "One"}, "default_language": "en",
        "choice_lists": {"yn": [{"code": "a", "label": {"en": "A"}}]},
        "sections": [{"fields": [
            {"id": "pick", "type": "select_one", "choices": "yn", "label": {"en": "Pick"}}
        ]}]
    }))
    .unwrap();
    check_form(&f, &fields(json!({"answers.pick": "a"})), today()).unwrap();
    let e = check_form(&f, &fields(json!({"answers.pick": "b"})), today()).unwrap_err();
    assert!(e.contains("answers.pick", &Reason::NotAChoice));
}

#[test]
fn constraints_apply_only_to_answers_and_name_the_field() {
    let f = form();
    for (key, value) in [
        ("answers.nickname", json!("much too long a nickname")),
        ("answers.age", json!(130)),
        ("answers.height", json!(0.1)),
        ("answers.arrived", json!("2026-12-25")),
        ("answers.needs", json!(["shelter", "medical", "legal"])),
    ] {
        let mut answers = valid_answers();
        answers[key] = value;
        let e = errors(&f, answers);
        assert!(e.contains(key, &Reason::ConstraintFailed), "{key}: {e:?}");
    }
    // Unanswered optional fields are not checked against their constraint.
    let mut answers = valid_answers();
    for key in ["answers.nickname", "answers.height", "answers.arrived"] {
        answers.as_object_mut().unwrap().remove(key);
    }
    check_form(&f, &fields(answers), today()).unwrap();
}

#[test]
fn required_applies_only_when_shown() {
    let f = form();
    let mut answers = valid_answers();
    answers.as_object_mut().unwrap().remove("answers.pregnant");
    let e = errors(&f, answers);
    assert!(e.contains("answers.pregnant", &Reason::Required));
    assert!(!e.contains("answers.needs", &Reason::Required));

    // A man: `pregnant` is not shown, so not required.
    let mut answers = valid_answers();
    answers["sex"] = json!("male");
    answers.as_object_mut().unwrap().remove("answers.pregnant");
    check_form(&f, &fields(answers), today()).unwrap();

    // A child: the whole needs section is hidden, its required fields are not required.
    check_form(
        &f,
        &fields(json!({"sex": "male", "answers.age": 9})),
        today(),
    )
    .unwrap();

    // A required field mapped to a core variable is required there.
    let e = errors(&f, json!({"answers.age": 9}));
    assert_eq!(e.reasons_for("sex"), [&Reason::Required]);
}

#[test]
fn answers_to_hidden_fields_are_rejected_and_hidden_fields_count_as_unanswered() {
    let f = form();
    // A man answering `pregnant`.
    let mut answers = valid_answers();
    answers["sex"] = json!("male");
    let e = errors(&f, answers);
    assert_eq!(e.reasons_for("answers.pregnant"), [&Reason::NotRelevant]);

    // A child with needs answered: the section is hidden.
    let e = errors(
        &f,
        json!({"sex": "male", "answers.age": 9, "answers.needs": ["legal"]}),
    );
    assert_eq!(e.reasons_for("answers.needs"), [&Reason::NotRelevant]);

    // medical_detail depends on needs; needs hidden → medical_detail hidden too, even though
    // the (rejected) needs answer selects medical.
    let e = errors(
        &f,
        json!({"sex": "male", "answers.age": 9, "answers.needs": ["medical"]}),
    );
    assert!(e.reasons_for("answers.medical_detail").is_empty());
}

#[test]
fn a_case_is_checked_against_the_versions_it_names() {
    let f = form();
    let lookup =
        |id: &FormId, version: u32| (id.as_str() == "all_types" && version == 1).then_some(&f);
    let mut answers = valid_answers();
    answers["forms.all_types"] = json!(1);
    check_case(&fields(answers.clone()), &lookup, today()).unwrap();

    // Unknown answer ids are rejected once a form is named.
    answers["answers.shoe_size"] = json!(42);
    let e = check_case(&fields(answers.clone()), &lookup, today()).unwrap_err();
    assert_eq!(e.reasons_for("answers.shoe_size"), [&Reason::NotInForm]);

    // A core-mapped field answered under answers.
    answers.as_object_mut().unwrap().remove("answers.shoe_size");
    answers["answers.sex"] = json!("female");
    let e = check_case(&fields(answers.clone()), &lookup, today()).unwrap_err();
    assert!(e.contains("answers.sex", &Reason::RecordedAsCore));

    // A version not held.
    answers.as_object_mut().unwrap().remove("answers.sex");
    answers["forms.all_types"] = json!(2);
    let e = check_case(&fields(answers.clone()), &lookup, today()).unwrap_err();
    assert_eq!(e.reasons_for("forms.all_types"), [&Reason::FormNotHeld]);
    assert_eq!(
        e.len(),
        1,
        "answers are not called unknown when a form is missing"
    );

    answers["forms.all_types"] = json!(0);
    let e = check_case(&fields(answers.clone()), &lookup, today()).unwrap_err();
    assert_eq!(
        e.reasons_for("forms.all_types"),
        [&Reason::InvalidFormVersion]
    );

    // No form named: free answers, as before forms existed.
    check_case(&fields(json!({"answers.anything": "x"})), &lookup, today()).unwrap();
}

#[test]
fn errors_never_show_values() {
    let f = form();
    let secret = "Fatima-Secret-Name";
    let mut answers = valid_answers();
    answers["answers.age"] = json!(secret);
    answers["answers.nickname"] = json!(format!("{secret} {secret}"));
    answers["answers.needs"] = json!([secret]);
    answers["answers.origin"] = json!(secret);
    let e = errors(&f, answers);
    let shown = format!(
        "{e:?} {}",
        e.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(";")
    );
    assert!(!shown.contains(secret), "{shown}");
}

#[test]
fn definitions_are_checked_when_read() {
    let base = form().to_json();
    let bad: Vec<(Value, &str)> = vec![
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"}},
                                          {"id": "a", "type": "text", "label": {"en": "A"}}]}]}),
            "id used twice",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "select_one", "choices": "nope",
                                          "label": {"en": "A"}}]}]}),
            "no choice list named nope",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "text", "label": {"fr": "A"}}]}]}),
            "default language",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"},
                                          "relevant": "${b} = 1"}]}]}),
            "not a field of this form",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"},
                                          "core": "favourite_colour"}]}]}),
            "core variable",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "note", "label": {"en": "A"},
                                          "required": true}]}]}),
            "a note takes no answer",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"},
                                          "constraint": ". >"}]}]}),
            "at character 3",
        ),
        (
            json!({"sections": [{"fields": [{"id": "a", "type": "photo", "label": {"en": "A"}}]}]}),
            "unknown variant",
        ),
        (json!({"version": 0}), "version must be 1"),
    ];
    for (patch, message) in bad {
        let mut def = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            def[k] = v.clone();
        }
        let e = FormDefinition::from_value(&def).expect_err(message);
        assert!(e.to_string().contains(message), "{message}: {e}");
    }
    assert!(matches!(
        FormDefinition::from_json(b"not json"),
        Err(DefinitionError::Malformed(_))
    ));
    // The JSON form round-trips.
    let f = form();
    assert_eq!(FormDefinition::from_value(&f.to_json()).unwrap(), f);
    assert_eq!(f.label(f.field("age").unwrap(), "fr"), Some("Âge"));
    assert_eq!(f.label(f.field("age").unwrap(), "sw"), Some("Age"));
    assert_eq!(
        f.choice_label(f.field("needs").unwrap(), "legal", "fr"),
        Some("Juridique")
    );
}
