//! The XLSForm corpus of issue 17 end to end: an admin converts and publishes workbooks
//! written as agencies write them (`core/tests/fixtures/corpus`, built by
//! `core/tests/forms_xlsform_pyxform.rs`) through the command line's reader, a device fills a
//! case with realistic answers, syncs to a real server on loopback (which validates the pushed
//! answers against the same form with the same code), and another device reads them back.

mod common;

use common::{enrolled_device, server_with_agencies};
use fieldcase_core::forms::FormId;
use fieldcase_core::model::{Fields, Reason};
use fieldcase_core::store::StoreError;
use fieldcase_server::cli::admin_forms::read_form_file;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/corpus")
        .join(name)
}

fn fields(value: Value) -> Fields {
    value.as_object().unwrap().clone().into_iter().collect()
}

#[tokio::test]
async fn the_corpus_is_published_filled_synced_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_tha", "IOM Thailand")]).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_tha", dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, "iom_tha", dir.path(), "b").await;

    // Convert as `fieldcase admin form publish FILE` does: two of the three forms convert;
    // the one with a repeat of household members is refused with its row.
    let case_management = read_form_file(&corpus("case_management.xlsx")).unwrap();
    let household = read_form_file(&corpus("household_screening.xlsx")).unwrap();
    let refused = read_form_file(&corpus("household_screening_members.xlsx")).unwrap_err();
    assert!(
        format!("{refused:#}").contains("survey row 9: type `begin repeat` is not supported"),
        "{refused:#}"
    );
    assert_eq!(
        (case_management.id.as_str(), case_management.version),
        ("case_management", 20100)
    );
    assert_eq!(household.id.as_str(), "household_screening");
    for form in [&case_management, &household] {
        assert!(
            admin
                .publish_form(form, Some("iom_tha"))
                .await
                .unwrap()
                .created
        );
    }
    a.sync().await.unwrap();
    b.sync().await.unwrap();

    // One case per form: answers are `answers.<field id>` whichever form asks them, and both
    // forms ask `country` and `district` from different lists.
    let managed = fields(json!({
        "forms.case_management": 20100,
        "intake_date": "2026-11-02",
        "country_of_assistance": "THA",
        "answers.dob": "2010-04-12",
        "answers.phone": "+66812345678",
        "answers.country": "UGA",
        "answers.district": "gulu",
        "answers.needs": ["medical", "other"],
        "answers.needs_other": "School fees",
        "answers.visits": 3,
        "answers.clinic_name": "Mae Sot General Hospital"
    }));
    let screened = fields(json!({
        "forms.household_screening": 1,
        "intake_date": "2026-11-03",
        "country_of_assistance": "THA",
        "answers.country": "THA",
        "answers.district": "ranong",
        "answers.hh_size": 5,
        "answers.hh_children": 3,
        "answers.debt": "yes",
        "answers.debt_usd": 1200.5
    }));
    let ids = {
        let mut store = a.store.lock().unwrap();
        // Checked on the device first: a district outside the country, a bad phone number.
        let mut bad = managed.clone();
        bad.insert("answers.district".into(), json!("juba"));
        bad.insert("answers.phone".into(), json!("08-1234"));
        match store.create_case_fields(bad) {
            Err(StoreError::Invalid(e)) => {
                assert!(e.contains("answers.district", &Reason::NotAChoice));
                assert!(e.contains("answers.phone", &Reason::ConstraintFailed));
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
        let mut bad = screened.clone();
        bad.remove("answers.debt_usd");
        match store.create_case_fields(bad) {
            Err(StoreError::Invalid(e)) => {
                assert_eq!(e.reasons_for("answers.debt_usd"), [&Reason::Required]);
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
        [
            store.create_case_fields(managed.clone()).unwrap(),
            store.create_case_fields(screened.clone()).unwrap(),
        ]
    };
    // The server validates the pushed cases with the same forms and accepts them.
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    b.sync().await.unwrap();
    let store = b.store.lock().unwrap();
    for ((id, answers), form) in ids
        .iter()
        .zip([&managed, &screened])
        .zip([&case_management, &household])
    {
        let case = store.get_case(id).unwrap().case().unwrap();
        assert_eq!(
            case.forms[&FormId::parse(form.id.as_str()).unwrap()],
            form.version
        );
        for (key, value) in answers {
            if let Some(field) = key.strip_prefix("answers.") {
                let field = fieldcase_core::model::FieldId::parse(field).unwrap();
                assert_eq!(case.answers.get(&field), Some(value), "{key}");
            }
        }
    }
}
