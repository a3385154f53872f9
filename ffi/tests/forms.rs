//! Forms through the facade: install the shipped screening form, list it, read its definition,
//! and record answers with `forms_json`, which core checks against that version.

use fieldcase_ffi::*;
use std::path::Path;

const PASSPHRASE: &str = "correct horse battery";

fn screening_json() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../forms/screening.json");
    std::fs::read_to_string(path).unwrap()
}

fn screened(answers: &str) -> CaseData {
    CaseData {
        sex: Some(Sex::Male),
        nationality: Some("ETH".into()),
        country_of_assistance: Some("KEN".into()),
        intake_date: Some("2024-06-01".into()),
        categories: vec![Category::StrandedMigrant],
        answers_json: answers.into(),
        forms_json: r#"{"iom_screening": 1}"#.into(),
        ..CaseData::default()
    }
}

#[test]
fn answers_are_recorded_and_checked_with_a_form_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db").to_string_lossy().into_owned();
    let store =
        create_unenrolled_store_for_tests(path, PASSPHRASE.into(), "iom_uga".into(), "cw_1".into())
            .unwrap();
    assert!(store.list_forms().unwrap().is_empty());
    assert!(matches!(
        store.install_form_json("{\"id\": 1}".into()),
        Err(FieldcaseError::Invalid { .. })
    ));
    store.install_form_json(screening_json()).unwrap();
    let forms = store.list_forms().unwrap();
    assert_eq!(forms.len(), 1);
    assert_eq!(
        (forms[0].id.as_str(), forms[0].version, forms[0].local),
        ("iom_screening", 1, true)
    );
    assert_eq!(
        forms[0].title["fr"],
        "Formulaire de filtrage — victime de la traite"
    );
    let definition = store
        .form_definition_json("iom_screening".into(), None)
        .unwrap()
        .unwrap();
    assert!(definition.contains("Date de l'entretien"));
    assert_eq!(
        store
            .form_definition_json("iom_screening".into(), Some(9))
            .unwrap(),
        None
    );

    let valid = r#"{"screening_consent": true, "interview_language": "fr", "is_minor": false,
                    "was_recruited": false, "forced_to_work": false,
                    "screening_outcome": "not_victim"}"#;
    let id = store.create_case(screened(valid)).unwrap();
    let record = store.get_case(id).unwrap();
    assert!(record.unreadable_fields.is_empty());
    assert_eq!(record.data.forms_json, r#"{"iom_screening":1}"#);

    let invalid = r#"{"screening_consent": true, "interview_language": "Tigrinya",
                      "is_minor": false, "was_recruited": false, "forced_to_work": false}"#;
    match store.create_case(screened(invalid)) {
        Err(FieldcaseError::Invalid { problems, reason }) => {
            let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
            assert!(fields.contains(&"answers.interview_language"), "{fields:?}");
            assert!(fields.contains(&"answers.screening_outcome"), "{fields:?}");
            assert!(!reason.contains("Tigrinya"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}
