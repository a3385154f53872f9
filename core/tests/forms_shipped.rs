#![recursion_limit = "256"]
//! The screening and assistance forms shipped in `forms/`: they read, carry English and French
//! labels for everything, accept a realistic case, and their `.xlsx` copies import to the same
//! definitions (`FIELDCASE_WRITE_FIXTURES=1` regenerates the `.xlsx` from the JSON).

use fieldcase_core::forms::xlsform::{export, import};
use fieldcase_core::forms::{check_case, FormDefinition, FormId};
use fieldcase_core::model::{Case, Date, Fields, Reason};
use serde_json::json;

const FORMS: [&str; 2] = ["screening", "assistance"];

fn path(name: &str, ext: &str) -> String {
    format!("{}/../forms/{name}.{ext}", env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> FormDefinition {
    FormDefinition::from_json(&std::fs::read(path(name, "json")).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn today() -> Date {
    Date::parse("2026-11-29").unwrap()
}

#[test]
fn every_label_is_in_english_and_french() {
    for name in FORMS {
        let form = load(name);
        let both = |labels: &fieldcase_core::forms::Labels, what: &str| {
            for language in ["en", "fr"] {
                assert!(
                    labels.contains_key(language),
                    "{name}: {what} has no {language} label"
                );
            }
        };
        both(&form.title, "title");
        for section in &form.sections {
            both(&section.label, &format!("section {:?}", section.id));
            for field in &section.fields {
                both(&field.label, &format!("field {}", field.id));
                for labels in [&field.hint, &field.constraint_message] {
                    if !labels.is_empty() {
                        both(labels, &format!("field {} hint/message", field.id));
                    }
                }
            }
        }
        for (list, choices) in &form.choice_lists {
            for choice in choices {
                both(&choice.label, &format!("choice {list}.{}", choice.code));
            }
        }
        assert!(
            form.fields().count() >= 25,
            "{name} is too thin to be useful"
        );
    }
}

/// A presumed victim of labour trafficking, screened and assisted, returning home.
fn realistic_case() -> Fields {
    let value = json!({
        "forms.iom_screening": 1,
        "forms.iom_assistance": 1,
        // Core variables the forms map.
        "intake_date": "2026-10-02",
        "sex": "female",
        "date_of_birth": "1998",
        "nationality": "ETH",
        "country_of_assistance": "KEN",
        "categories": ["victim_of_trafficking"],
        "programme": "avrr",
        "exploitation_types": ["labour", "sexual"],
        "labour_sectors": ["domestic_work"],
        "trafficking_type": "international",
        "country_of_destination": "KEN",
        "host_country": "KEN",
        "return_date": "2026-11-20",
        "reintegration_assistance": ["business_support", "psychosocial"],
        "consent.assistance": {"given": true, "date": "2026-10-02", "recorded_by": "user-1"},
        // Screening answers.
        "answers.screening_consent": true,
        "answers.interview_location": "Nairobi transit centre",
        "answers.interview_language": "am",
        "answers.interpreter_used": true,
        "answers.referred_by": "police",
        "answers.is_minor": false,
        "answers.was_recruited": true,
        "answers.recruitment_means": "job_offer",
        "answers.recruiter_relationship": "agency",
        "answers.recruitment_date": "2025-06",
        "answers.crossed_border": true,
        "answers.debt_owed": "yes",
        "answers.debt_amount_usd": 1200.0,
        "answers.indicators": ["documents_taken", "unpaid", "isolation"],
        "answers.forced_to_work": true,
        "answers.exploitation_start": "2025-07",
        "answers.still_in_situation": false,
        "answers.able_to_leave": false,
        "answers.screening_outcome": "presumed_victim",
        "answers.urgent_needs": ["shelter", "medical"],
        // Assistance answers.
        "answers.education": "secondary",
        "answers.marital_status": "single",
        "answers.children_count": 0,
        "answers.occupation_before": "informal",
        "answers.household_size": 6,
        "answers.transport_means": ["land", "air"],
        "answers.travel_documents": "genuine",
        "answers.documents_held_by_others": true,
        "answers.journey_start": "2025-06",
        "answers.exploitation_months": 14,
        "answers.means_of_control": ["documents", "confinement"],
        "answers.paid_anything": false,
        "answers.needs": ["shelter", "medical", "return_travel"],
        "answers.wants_return": true
    });
    value.as_object().unwrap().clone().into_iter().collect()
}

#[test]
fn a_realistic_case_is_valid_against_both_forms_and_the_case_model() {
    let screening = load("screening");
    let assistance = load("assistance");
    let lookup = |id: &FormId, version: u32| match (id.as_str(), version) {
        ("iom_screening", 1) => Some(&screening),
        ("iom_assistance", 1) => Some(&assistance),
        _ => None,
    };
    let fields = realistic_case();
    check_case(&fields, &lookup, today()).unwrap();
    Case::from_fields_as_of(&fields, today()).unwrap();

    // The forms' rules bite: a presumed victim without the category, a hidden answer.
    let mut bad = fields.clone();
    bad.insert("categories".into(), json!(["stranded_migrant"]));
    bad.insert("answers.accompanied".into(), json!(true));
    let e = check_case(&bad, &lookup, today()).unwrap_err();
    assert!(e.contains("categories", &Reason::ConstraintFailed), "{e:?}");
    assert!(
        e.contains("answers.accompanied", &Reason::NotRelevant),
        "{e:?}"
    );

    // Every answer and core value shows with a French label.
    for form in [&screening, &assistance] {
        for field in form.fields() {
            assert!(form.label(field, "fr").is_some());
            let key = fieldcase_core::forms::validate::answer_key(field);
            if let Some(serde_json::Value::String(code)) = fields.get(&key) {
                if field.choices.is_some() {
                    assert!(form.choice_label(field, code, "fr").is_some(), "{key}");
                }
            }
        }
    }
}

#[test]
fn the_checked_in_workbooks_match_the_definitions() {
    for name in FORMS {
        let form = load(name);
        let xlsx = path(name, "xlsx");
        if std::env::var_os("FIELDCASE_WRITE_FIXTURES").is_some() {
            std::fs::write(&xlsx, export(&form).unwrap()).unwrap();
        }
        let imported = import(&std::fs::read(&xlsx).unwrap()).unwrap();
        assert_eq!(imported, form, "{name}.xlsx differs from {name}.json");
    }
}

/// `docs/examples/case-<form id>.json` of every shipped form: a case a user can copy, in the
/// nested form `device add` reads, valid against its form and the case model.
#[test]
fn every_shipped_form_has_a_valid_example_case_in_the_docs() {
    let forms: Vec<FormDefinition> = FORMS.iter().map(|name| load(name)).collect();
    let lookup =
        |id: &FormId, version: u32| forms.iter().find(|f| &f.id == id && f.version == version);
    for form in &forms {
        let file = format!(
            "{}/../docs/examples/case-{}.json",
            env!("CARGO_MANIFEST_DIR"),
            form.id.as_str()
        );
        let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let case = Case::from_json_as_of(&value, today()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let fields = case.to_fields();
        assert_eq!(
            fields.get(&format!("forms.{}", form.id.as_str())),
            Some(&json!(form.version)),
            "{file} names its form"
        );
        check_case(&fields, &lookup, today()).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let minimal = format!(
        "{}/../docs/examples/case-minimal.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&minimal).unwrap()).unwrap();
    Case::from_json_as_of(&value, today()).unwrap();
}
