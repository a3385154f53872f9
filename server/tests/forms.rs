//! Publishing forms for real: an admin publishes the shipped screening form (JSON) and
//! assistance form (XLSForm workbook) for one agency on a server on loopback; both devices of
//! that agency receive them by sync, a device of another agency does not, and answers are
//! validated on the device against the version they name. Versions are immutable.

mod common;

use common::{enrolled_device, server_with_agencies, Device};
use fieldcase_core::forms::{FormDefinition, FormId};
use fieldcase_core::model::{Fields, Reason};
use fieldcase_core::store::StoreError;
use fieldcase_server::admin_client::ServerRefused;
use fieldcase_server::cli::admin_forms::read_form_file;
use serde_json::json;
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../forms")
        .join(name)
}

fn held(device: &Device) -> Vec<(String, u32, bool)> {
    let store = device.store.lock().unwrap();
    store
        .forms()
        .unwrap()
        .into_iter()
        .map(|f| (f.id.to_string(), f.version, f.local))
        .collect()
}

/// A screened presumed victim: the screening form's answers and the core variables it maps.
fn screened_case() -> Fields {
    let value = json!({
        "forms.iom_screening": 1,
        "intake_date": "2026-10-02",
        "sex": "male",
        "nationality": "ETH",
        "country_of_assistance": "KEN",
        "categories": ["victim_of_trafficking"],
        "answers.screening_consent": true,
        "answers.interview_language": "am",
        "answers.is_minor": false,
        "answers.was_recruited": true,
        "answers.recruitment_means": "job_offer",
        "answers.forced_to_work": true,
        "answers.still_in_situation": false,
        "answers.screening_outcome": "presumed_victim"
    });
    value.as_object().unwrap().clone().into_iter().collect()
}

fn refused_status(error: anyhow::Error) -> u16 {
    error
        .downcast_ref::<ServerRefused>()
        .map(|r| r.status)
        .unwrap_or_else(|| panic!("expected a refusal, got {error:#}"))
}

#[tokio::test]
async fn published_forms_reach_the_agencys_devices_and_validate_answers() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = [("iom_uga", "IOM Uganda"), ("iom_ken", "IOM Kenya")];
    let (server, admin) = server_with_agencies(dir.path(), &agencies).await;
    let a = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "a").await;
    let b = enrolled_device(&server.base_url, &admin, "iom_uga", dir.path(), "b").await;
    let k = enrolled_device(&server.base_url, &admin, "iom_ken", dir.path(), "k").await;

    // Publish: the screening form as JSON, the assistance form as its XLSForm workbook.
    let screening = read_form_file(&shipped("screening.json")).unwrap();
    let assistance = read_form_file(&shipped("assistance.xlsx")).unwrap();
    let published = admin
        .publish_form(&screening, Some("iom_uga"))
        .await
        .unwrap();
    assert!(published.created);
    assert_eq!(
        (published.id.as_str(), published.version),
        ("iom_screening", 1)
    );
    assert!(
        admin
            .publish_form(&assistance, Some("iom_uga"))
            .await
            .unwrap()
            .created
    );

    // The same version again changes nothing; different content under it is refused; a
    // system admin must name the agency; an unknown agency is not found.
    assert!(
        !admin
            .publish_form(&screening, Some("iom_uga"))
            .await
            .unwrap()
            .created
    );
    let mut altered = screening.clone();
    altered.title.insert("en".into(), "Something else".into());
    let e = admin
        .publish_form(&altered, Some("iom_uga"))
        .await
        .unwrap_err();
    assert_eq!(refused_status(e), 409);
    assert_eq!(
        refused_status(admin.publish_form(&screening, None).await.unwrap_err()),
        400
    );
    assert_eq!(
        refused_status(
            admin
                .publish_form(&screening, Some("nowhere"))
                .await
                .unwrap_err()
        ),
        404
    );
    // A definition that does not check is refused with the reason.
    let bad = admin
        .call::<serde_json::Value>(
            reqwest::Method::POST,
            "/v1/admin/forms?agency=iom_uga",
            Some(
                &json!({"id": "x", "version": 1, "title": {"en": "X"}, "default_language": "en",
                         "sections": [{"fields": [{"id": "a", "type": "text", "label": {"en": "A"},
                                                   "relevant": "${b} = 1"}]}]}),
            ),
        )
        .await
        .unwrap_err();
    assert!(format!("{bad:#}").contains("refers to ${b}"), "{bad:#}");

    let listed: Vec<_> = admin
        .list_forms(None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.agency, f.id, f.version))
        .collect();
    assert_eq!(
        listed,
        [
            ("iom_uga".to_owned(), "iom_assistance".to_owned(), 1),
            ("iom_uga".to_owned(), "iom_screening".to_owned(), 1)
        ]
    );
    assert!(admin.list_forms(Some("iom_ken")).await.unwrap().is_empty());

    // Both devices of the agency receive both forms; the other agency's device nothing.
    for device in [&a, &b, &k] {
        device.sync().await.unwrap();
    }
    let expected = vec![
        ("iom_assistance".to_owned(), 1, false),
        ("iom_screening".to_owned(), 1, false),
    ];
    assert_eq!(held(&a), expected);
    assert_eq!(held(&b), expected);
    assert!(held(&k).is_empty());
    {
        let store = b.store.lock().unwrap();
        let id = FormId::parse("iom_screening").unwrap();
        let form: FormDefinition = store.form(&id, 1).unwrap().unwrap();
        assert_eq!(form, screening, "the definition arrives intact");
    }

    // Answers are validated on the device against the version they name.
    let case_id = {
        let mut store = a.store.lock().unwrap();
        let mut bad = screened_case();
        bad.insert("answers.interview_language".into(), json!("klingon"));
        bad.remove("answers.screening_outcome");
        match store.create_case_fields(bad) {
            Err(StoreError::Invalid(e)) => {
                assert!(e.contains("answers.interview_language", &Reason::NotAChoice));
                assert!(e.contains("answers.screening_outcome", &Reason::Required));
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
        store.create_case_fields(screened_case()).unwrap()
    };
    // The other agency's device cannot record answers with a form it never received.
    {
        let mut store = k.store.lock().unwrap();
        match store.create_case_fields(screened_case()) {
            Err(StoreError::Invalid(e)) => {
                assert_eq!(e.reasons_for("forms.iom_screening"), [&Reason::FormNotHeld]);
            }
            other => panic!("expected the form to be missing, got {other:?}"),
        }
    }
    // The case travels like any other; b sees it with its form reference.
    assert_eq!(a.sync().await.unwrap().rejected, 0);
    b.sync().await.unwrap();
    {
        let store = b.store.lock().unwrap();
        let case = store.get_case(&case_id).unwrap().case().unwrap();
        assert_eq!(case.forms[&FormId::parse("iom_screening").unwrap()], 1);
    }

    // A network-wide version reaches every agency, including one created afterwards.
    let mut network = screening.clone();
    network.version = 2;
    let published = admin.publish_network_form(&network).await.unwrap();
    assert_eq!((published.agency.as_str(), published.created), ("*", true));
    admin
        .create_agency("iom_eth", "IOM Ethiopia")
        .await
        .unwrap();
    let e = enrolled_device(&server.base_url, &admin, "iom_eth", dir.path(), "e").await;
    for device in [&a, &k, &e] {
        device.sync().await.unwrap();
    }
    assert!(held(&a).contains(&("iom_screening".to_owned(), 2, false)));
    assert_eq!(held(&k), [("iom_screening".to_owned(), 2, false)]);
    assert_eq!(held(&e), [("iom_screening".to_owned(), 2, false)]);
}
