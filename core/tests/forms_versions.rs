//! Form versions in the encrypted store: a case is checked against the version it names, old
//! answers stay readable with their own version's labels after a new version arrives, and
//! moving a case to the new version is an explicit edit.

mod common;

use common::{contains, database_bytes, new_store, store_path};
use fieldcase_core::forms::{FormDefinition, FormId};
use fieldcase_core::model::{Fields, Reason};
use fieldcase_core::store::StoreError;
use serde_json::{json, Value};

fn v1() -> FormDefinition {
    FormDefinition::from_value(&json!({
        "id": "household", "version": 1, "default_language": "en",
        "title": {"en": "Household", "fr": "Ménage"},
        "choice_lists": {"need": [
            {"code": "food", "label": {"en": "Food", "fr": "Nourriture"}},
            {"code": "shelter", "label": {"en": "Shelter", "fr": "Abri"}}
        ]},
        "sections": [{"id": "home", "label": {"en": "Home", "fr": "Foyer"}, "fields": [
            {"id": "household_size", "type": "integer", "required": true,
             "label": {"en": "Household size", "fr": "Taille du ménage"},
             "constraint": ". >= 1 and . <= 40"},
            {"id": "alias_used", "type": "yes_no",
             "label": {"en": "Uses an alias", "fr": "Utilise un pseudonyme"}},
            {"id": "main_need", "type": "select_one", "choices": "need",
             "label": {"en": "Main need", "fr": "Besoin principal"}}
        ]}]
    }))
    .unwrap()
}

/// v2 renames household_size to household_members, removes alias_used and adds a required
/// field.
fn v2() -> FormDefinition {
    let mut def = v1().to_json();
    def["version"] = json!(2);
    def["sections"][0]["fields"] = json!([
        {"id": "household_members", "type": "integer", "required": true,
         "label": {"en": "People in the household", "fr": "Personnes du ménage"},
         "constraint": ". >= 1 and . <= 40"},
        {"id": "main_need", "type": "select_one", "choices": "need",
         "label": {"en": "Main need", "fr": "Besoin principal"}},
        {"id": "languages_spoken", "type": "text", "required": true,
         "label": {"en": "Languages spoken", "fr": "Langues parlées"}}
    ]);
    FormDefinition::from_value(&def).unwrap()
}

fn fields(value: Value) -> Fields {
    value.as_object().unwrap().clone().into_iter().collect()
}

fn invalid(
    result: Result<impl std::fmt::Debug, StoreError>,
) -> fieldcase_core::model::ValidationErrors {
    match result {
        Err(StoreError::Invalid(e)) => e,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[test]
fn old_answers_keep_their_version_and_new_cases_use_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "versions", 1);
    let household = FormId::parse("household").unwrap();

    store.install_form(&v1()).unwrap();
    let old = store
        .create_case_fields(fields(json!({
            "sex": "female",
            "forms.household": 1,
            "answers.household_size": 5,
            "answers.alias_used": true,
            "answers.main_need": "food"
        })))
        .unwrap();

    // A case naming a version the device does not hold is refused.
    let e = invalid(store.create_case_fields(fields(
        json!({"forms.household": 2, "answers.household_members": 3}),
    )));
    assert_eq!(e.reasons_for("forms.household"), [&Reason::FormNotHeld]);

    store.install_form(&v2()).unwrap();
    let listed: Vec<_> = store
        .forms()
        .unwrap()
        .into_iter()
        .map(|f| (f.id.to_string(), f.version))
        .collect();
    assert_eq!(
        listed,
        [("household".to_owned(), 1), ("household".to_owned(), 2)]
    );
    assert_eq!(store.latest_form(&household).unwrap().unwrap().version, 2);

    // The old case reads as recorded, with v1's labels.
    let record = store.get_case(&old).unwrap();
    assert_eq!(record.fields["answers.household_size"], json!(5));
    let case = record.case().unwrap();
    let version = case.forms[&household];
    assert_eq!(version, 1);
    let form = store.form(&household, version).unwrap().unwrap();
    let field = form.field("household_size").unwrap();
    assert_eq!(form.label(field, "fr"), Some("Taille du ménage"));
    assert_eq!(
        form.label(form.field("alias_used").unwrap(), "en"),
        Some("Uses an alias")
    );

    // A new case validates against v2: the new required field, the renamed field.
    let e = invalid(store.create_case_fields(fields(json!({
        "forms.household": 2,
        "answers.household_size": 4
    }))));
    assert_eq!(
        e.reasons_for("answers.household_members"),
        [&Reason::Required]
    );
    assert_eq!(
        e.reasons_for("answers.languages_spoken"),
        [&Reason::Required]
    );
    assert_eq!(
        e.reasons_for("answers.household_size"),
        [&Reason::NotInForm]
    );
    let new = store
        .create_case_fields(fields(json!({
            "forms.household": 2,
            "answers.household_members": 4,
            "answers.languages_spoken": "Tigrinya, Arabic"
        })))
        .unwrap();
    assert!(store.get_case(&new).is_ok());

    // Editing the old case keeps validating against v1.
    store
        .update_case(&old, fields(json!({"answers.household_size": 6})))
        .unwrap();
    let e = invalid(store.update_case(&old, fields(json!({"answers.household_size": 99}))));
    assert_eq!(
        e.reasons_for("answers.household_size"),
        [&Reason::ConstraintFailed]
    );
    let e =
        invalid(store.update_case(&old, fields(json!({"answers.languages_spoken": "Amharic"}))));
    assert_eq!(
        e.reasons_for("answers.languages_spoken"),
        [&Reason::NotInForm]
    );
    let e = invalid(store.update_case(&old, fields(json!({"answers.main_need": "water"}))));
    assert_eq!(e.reasons_for("answers.main_need"), [&Reason::NotAChoice]);

    // The upgrade path: one edit moves the case to v2, clearing what v2 dropped and answering
    // what it requires; an upgrade that leaves v1-only answers is refused.
    let e = invalid(store.update_case(&old, fields(json!({"forms.household": 2}))));
    assert!(e.contains("answers.household_size", &Reason::NotInForm));
    assert!(e.contains("answers.languages_spoken", &Reason::Required));
    store
        .update_case(
            &old,
            fields(json!({
                "forms.household": 2,
                "answers.household_size": null,
                "answers.alias_used": null,
                "answers.household_members": 6,
                "answers.languages_spoken": "Tigrinya"
            })),
        )
        .unwrap();
    assert_eq!(
        store.get_case(&old).unwrap().case().unwrap().forms[&household],
        2
    );
}

#[test]
fn versions_are_immutable_and_installing_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "immutable", 1);
    store.install_form(&v1()).unwrap();
    store.install_form(&v1()).unwrap();
    assert_eq!(store.forms().unwrap().len(), 1);
    let mut changed = v1();
    changed.title.insert("en".into(), "Something else".into());
    assert!(matches!(
        store.install_form(&changed),
        Err(StoreError::FormVersionConflict { version: 1, .. })
    ));
    // Installed forms are not operations for the server.
    assert_eq!(store.pending_work().unwrap().0, 0);
}

#[test]
fn forms_and_answers_are_sealed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "sealed", 1);
    store.install_form(&v1()).unwrap();
    store
        .create_case_fields(fields(json!({
            "forms.household": 1,
            "answers.household_size": 5,
            "answers.main_need": "shelter"
        })))
        .unwrap();
    store.close().unwrap();
    let bytes = database_bytes(&store_path(dir.path(), "sealed"));
    for needle in ["Taille du m", "household_size", "Uses an alias", "shelter"] {
        assert!(
            !contains(&bytes, needle.as_bytes()),
            "{needle} is in the clear"
        );
    }
}

#[test]
fn cases_without_forms_keep_free_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "free", 1);
    store.install_form(&v1()).unwrap();
    store
        .create_case_fields(fields(json!({"sex": "male", "answers.anything": "goes"})))
        .unwrap();
}
