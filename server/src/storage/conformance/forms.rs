//! Conformance: published form versions are immutable, addressed to their agency only, and
//! cannot be written by devices.

use super::*;
use crate::service::Service;

fn form(title: &str) -> fieldcase_core::forms::FormDefinition {
    fieldcase_core::forms::FormDefinition::from_value(&serde_json::json!({
        "id": "intake", "version": 1, "default_language": "en", "title": {"en": title},
        "sections": [{"fields": [{"id": "q1", "type": "text", "label": {"en": "Q1"}}]}]
    }))
    .unwrap()
}

pub fn forms_are_immutable_and_reach_only_their_agency(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    let published = store.publish_form(&a.agency, &form("Intake"), NOW).unwrap();
    assert!(published.created);
    assert_eq!((published.id.as_str(), published.version), ("intake", 1));
    // Same content again: nothing new; different content under the same version: refused.
    assert!(
        !store
            .publish_form(&a.agency, &form("Intake"), NOW)
            .unwrap()
            .created
    );
    assert!(matches!(
        store.publish_form(&a.agency, &form("Changed"), NOW),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.publish_form(&agency("nowhere"), &form("Intake"), NOW),
        Err(StorageError::NotFound("agency"))
    ));
    // The same id and version for another agency is another form.
    assert!(
        store
            .publish_form(&b.agency, &form("Other"), NOW)
            .unwrap()
            .created
    );

    let page = store.pull(&a, 0, 100).unwrap();
    assert_eq!(
        page.ops.len(),
        1,
        "one operation, however often it was published"
    );
    assert_eq!(page.ops[0].kind, RecordKind::Form);
    assert_eq!(
        page.ops[0].fields["form_id"].value,
        serde_json::json!("intake")
    );
    assert_eq!(
        page.ops[0].fields["definition"].value["title"]["en"],
        serde_json::json!("Intake")
    );
    let theirs = store.pull(&b, 0, 100).unwrap();
    assert_eq!(theirs.ops.len(), 1);
    assert_eq!(
        theirs.ops[0].fields["definition"].value["title"]["en"],
        serde_json::json!("Other")
    );

    let listed = store.list_forms(Some(&a.agency)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(store.list_forms(None).unwrap().len(), 2);

    // A device cannot write a form record, new or published.
    let mut op = case_op(&a, 1, page.ops[0].record_id);
    op.kind = RecordKind::Form;
    let pushed = store.push(&a, &[op], NOW).unwrap();
    assert!(matches!(
        pushed.rejections[0].reason,
        RejectReason::Invalid { .. }
    ));
}

pub fn network_forms_reach_every_agency_now_and_later(store: &dyn Storage) {
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    // agency_b already holds a different definition under this version: refused as a whole.
    store.publish_form(&b.agency, &form("Mine"), NOW).unwrap();
    assert!(matches!(
        store.publish_network_form(&form("Network"), NOW),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(
        store.pull(&a, 0, 100).unwrap().ops.is_empty(),
        "nothing half-published"
    );

    let mut network = form("Network");
    network.version = 2;
    let each = store.publish_network_form(&network, NOW).unwrap();
    assert_eq!(each.len(), 2);
    assert!(each.iter().all(|f| f.created));
    assert!(store
        .publish_network_form(&network, NOW)
        .unwrap()
        .iter()
        .all(|f| !f.created));
    let mut changed = network.clone();
    changed.title.insert("en".into(), "Changed".into());
    assert!(matches!(
        store.publish_network_form(&changed, NOW),
        Err(StorageError::AlreadyExists(_))
    ));
    assert_eq!(store.pull(&a, 0, 100).unwrap().ops.len(), 1);

    // An agency created afterwards receives it.
    let c = enrolled(store, "agency_c");
    let page = store.pull(&c, 0, 100).unwrap();
    assert_eq!(page.ops.len(), 1);
    assert_eq!(page.ops[0].fields["version"].value, serde_json::json!(2));
    assert_eq!(store.list_forms(Some(&c.agency)).unwrap().len(), 1);
}

/// A form with a rule between fields (`guardian` is asked of minors only) and a phone number
/// checked by `regex()`.
fn minors_form() -> fieldcase_core::forms::FormDefinition {
    fieldcase_core::forms::FormDefinition::from_value(&serde_json::json!({
        "id": "minors", "version": 1, "default_language": "en", "title": {"en": "Minors"},
        "sections": [{"fields": [
            {"id": "minor", "type": "yes_no", "label": {"en": "Minor?"}},
            {"id": "guardian", "type": "text", "label": {"en": "Guardian"},
             "relevant": "${minor} = 'yes'"},
            {"id": "phone", "type": "text", "label": {"en": "Phone"},
             "constraint": "regex(., '^\\+?[0-9]{9,15}$')"}
        ]}]
    }))
    .unwrap()
}

fn answers_op(
    device: &DeviceAuth,
    seq: u64,
    case: RecordId,
    fields: &[(&str, serde_json::Value)],
) -> Operation {
    let mut op = case_op(device, seq, case);
    for (key, value) in fields {
        let change = FieldChange::fresh(value.clone());
        op.fields.insert((*key).to_owned(), change);
    }
    op
}

pub fn pushed_answers_are_checked_and_merged_cases_flagged(store: &dyn Storage) {
    use crate::service::review;
    use serde_json::json;
    let a = enrolled(store, "agency_a");
    let b = enrolled(store, "agency_b");
    store.publish_form(&a.agency, &minors_form(), NOW).unwrap();
    let case = RecordId::new();
    let opened = answers_op(
        &a,
        1,
        case,
        &[
            ("forms.minors", json!(1)),
            ("answers.minor", json!(true)),
            ("answers.guardian", json!("Aunt")),
        ],
    );
    let bad_phone = answers_op(&a, 2, case, &[("answers.phone", json!("call 0812"))]);
    let pushed = store.push(&a, &[opened, bad_phone], NOW).unwrap();
    assert_eq!(pushed.applied, 1);
    let RejectReason::Invalid { detail } = &pushed.rejections[0].reason else {
        panic!("{:?}", pushed.rejections);
    };
    assert!(detail.contains("answers.phone"), "{detail}");
    assert!(!detail.contains("0812"), "{detail}");
    assert!(review::list(store, &a.agency).unwrap().is_empty());

    // An edit made elsewhere says the person is an adult: the guardian's answer is now on a
    // hidden field. Both writes are kept; the case is flagged for its agency alone.
    let adult = answers_op(&a, 3, case, &[("answers.minor", json!(false))]);
    assert_eq!(store.push(&a, &[adult], NOW + 10).unwrap().applied, 1);
    let flagged = review::list(store, &a.agency).unwrap();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].case_id, case);
    assert_eq!(flagged[0].flagged_ms, NOW + 10);
    assert_eq!(flagged[0].reasons.len(), 1);
    assert_eq!(flagged[0].reasons[0].field, "answers.guardian");
    assert!(flagged[0].reasons[0].reason.contains("not shown"));
    assert!(review::list(store, &b.agency).unwrap().is_empty());

    // Still flagged after an unrelated edit (since the first time); cleared once fixed.
    let phone = answers_op(&a, 4, case, &[("answers.phone", json!("+256700000001"))]);
    store.push(&a, &[phone], NOW + 20).unwrap();
    assert_eq!(
        review::list(store, &a.agency).unwrap()[0].flagged_ms,
        NOW + 10
    );
    let cleared = answers_op(
        &a,
        5,
        case,
        &[("answers.guardian", serde_json::Value::Null)],
    );
    assert_eq!(store.push(&a, &[cleared], NOW + 30).unwrap().applied, 1);
    assert!(review::list(store, &a.agency).unwrap().is_empty());
}
