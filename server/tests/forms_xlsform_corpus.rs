//! The XLSForm corpus of issue 17 end to end: an admin converts and publishes workbooks
//! written as agencies write them (`core/tests/fixtures/corpus`, built by
//! `core/tests/forms_xlsform_pyxform.rs`) through the command line's reader, a device fills a
//! case with realistic answers (checked against the form on the device), syncs to a real
//! server on loopback (which checks each pushed value with the same case model), and another
//! device reads them back. Household members, a repeat group, are answered per instance: two
//! devices editing different members, and adding members, merge without loss.

mod common;

use common::{enrolled_device, server_with_agencies};
use fieldcase_core::forms::FormId;
use fieldcase_core::model::{Fields, InstanceKey, Reason};
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

    // Convert as `fieldcase admin form publish FILE` does: all three forms convert, the one
    // with a repeat of household members too.
    let case_management = read_form_file(&corpus("case_management.xlsx")).unwrap();
    let household = read_form_file(&corpus("household_screening.xlsx")).unwrap();
    let members = read_form_file(&corpus("household_screening_members.xlsx")).unwrap();
    assert_eq!(members.repeats.len(), 1);
    assert_eq!(
        (case_management.id.as_str(), case_management.version),
        ("case_management", 20100)
    );
    assert_eq!(household.id.as_str(), "household_screening");
    for form in [&case_management, &household, &members] {
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
    // The server checks the pushed values with the same case model and accepts them.
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
                let field = fieldcase_core::model::AnswerPath::parse(field).unwrap();
                assert_eq!(case.answers.get(&field), Some(value), "{key}");
            }
        }
    }
}

fn set(fields: &mut Fields, key: &str, value: Value) {
    fields.insert(key.to_owned(), value);
}

#[tokio::test]
async fn household_members_are_filled_edited_on_two_devices_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = server_with_agencies(dir.path(), &[("iom_tha", "IOM Thailand")]).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_tha", dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, "iom_tha", dir.path(), "b").await;
    let form = read_form_file(&corpus("household_screening_members.xlsx")).unwrap();
    assert!(
        admin
            .publish_form(&form, Some("iom_tha"))
            .await
            .unwrap()
            .created
    );
    a.sync().await.unwrap();
    b.sync().await.unwrap();

    // Device a screens a household of three: each member an instance with a key of its own.
    let now = 1_796_000_000_000;
    let [head, son, daughter] = [0, 1, 2].map(|i| InstanceKey::generate(now + i));
    let member = |key: &InstanceKey, field: &str| format!("answers.member.{key}.{field}");
    let mut household = fields(json!({
        "forms.household_screening_members": 1,
        "intake_date": "2026-11-03",
        "country_of_assistance": "THA",
        "answers.country": "THA",
        "answers.district": "ranong",
        "answers.hh_size": 3,
        "answers.hh_children": 2,
        "answers.debt": "no"
    }));
    for (key, name, age, relation) in [
        (&head, "Aye Aye", 41, "head"),
        (&son, "Ko Min", 16, "child"),
        (&daughter, "Su Su", 9, "child"),
    ] {
        set(&mut household, &member(key, "member_name"), json!(name));
        set(&mut household, &member(key, "member_age"), json!(age));
        set(
            &mut household,
            &member(key, "member_relation"),
            json!(relation),
        );
    }
    set(&mut household, &member(&head, "member_works"), json!("yes"));
    set(
        &mut household,
        &member(&head, "member_work_district"),
        json!("mae_sot"),
    );
    set(&mut household, &member(&son, "member_works"), json!("no"));
    let id = {
        let mut store = a.store.lock().unwrap();
        // Checked per member on the device: a district of another country, a child's work.
        let mut bad = household.clone();
        set(
            &mut bad,
            &member(&head, "member_work_district"),
            json!("myawaddy"),
        );
        set(&mut bad, &member(&daughter, "member_works"), json!("no"));
        match store.create_case_fields(bad) {
            Err(StoreError::Invalid(e)) => {
                assert!(e.contains(&member(&head, "member_work_district"), &Reason::NotAChoice));
                assert!(e.contains(&member(&daughter, "member_works"), &Reason::NotRelevant));
                assert_eq!(e.0.len(), 2, "{e}");
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
        store.create_case_fields(household.clone()).unwrap()
    };
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    b.sync().await.unwrap();
    assert_eq!(
        b.store.lock().unwrap().get_case(&id).unwrap().fields,
        household
    );

    // Offline at the same time: a corrects the son's age and records that he now works; b
    // records a newborn (a fourth member, and the household size with it) and the daughter's
    // relation. Different members, different keys: nothing is lost.
    let newborn = InstanceKey::generate(now + 10);
    {
        let mut store = a.store.lock().unwrap();
        let changes = fields(json!({
            member(&son, "member_age"): 17,
            member(&son, "member_works"): "yes",
            member(&son, "member_work_district"): "ranong",
        }));
        store.update_case(&id, changes).unwrap();
    }
    {
        let mut store = b.store.lock().unwrap();
        let changes = fields(json!({
            "answers.hh_size": 4,
            "answers.hh_children": 3,
            member(&newborn, "member_name"): "Baby",
            member(&newborn, "member_age"): 0,
            member(&newborn, "member_relation"): "child",
            member(&daughter, "member_relation"): "other_relative",
        }));
        store.update_case(&id, changes).unwrap();
    }
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    assert_eq!(b.sync().await.unwrap().rejected, 0);
    a.sync().await.unwrap();
    let mut merged = household.clone();
    set(&mut merged, &member(&son, "member_age"), json!(17));
    set(
        &mut merged,
        &member(&son, "member_work_district"),
        json!("ranong"),
    );
    set(&mut merged, &member(&son, "member_works"), json!("yes"));
    set(&mut merged, "answers.hh_size", json!(4));
    set(&mut merged, "answers.hh_children", json!(3));
    set(&mut merged, &member(&newborn, "member_name"), json!("Baby"));
    set(&mut merged, &member(&newborn, "member_age"), json!(0));
    set(
        &mut merged,
        &member(&newborn, "member_relation"),
        json!("child"),
    );
    set(
        &mut merged,
        &member(&daughter, "member_relation"),
        json!("other_relative"),
    );
    for device in [&a, &b] {
        let store = device.store.lock().unwrap();
        let record = store.get_case(&id).unwrap();
        assert_eq!(record.fields, merged);
        assert!(record.conflicts.is_empty());
        let case = record.case().unwrap();
        let members: std::collections::BTreeSet<&str> = case
            .answers
            .keys()
            .filter_map(|p| Some(p.instance()?.1.as_str()))
            .collect();
        assert_eq!(members.len(), 4);
        // The merged case is still valid against the form, member by member.
        let lookup = |_: &FormId, _: u32| Some(&form);
        let today = fieldcase_core::model::Date::parse("2026-11-29").unwrap();
        assert_eq!(
            fieldcase_core::forms::check_case(&record.fields, &lookup, today),
            Ok(())
        );
    }

    // Removing a member is clearing its answers; the household size follows.
    {
        let mut store = a.store.lock().unwrap();
        let mut changes = fields(json!({"answers.hh_size": 3, "answers.hh_children": 2}));
        for field in ["member_name", "member_age", "member_relation"] {
            set(&mut changes, &member(&newborn, field), Value::Null);
        }
        store.update_case(&id, changes).unwrap();
    }
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    b.sync().await.unwrap();
    let store = b.store.lock().unwrap();
    let case = store.get_case(&id).unwrap().case().unwrap();
    assert!(case
        .answers
        .keys()
        .all(|p| p.instance().is_none_or(|(_, key)| *key != newborn)));
}
