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
