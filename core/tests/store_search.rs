//! Search through blind indexes: names across spellings, phones across formats, documents.

mod common;
use common::*;
use fieldcase_core::model::Fields;
use fieldcase_core::store::SearchQuery;

#[test]
fn names_phones_and_documents_are_found_across_spellings_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mohammed = store
        .create_case(&case(
            "Mohammed",
            "Al-Hassan",
            "+256 772 123456",
            "B1234567",
        ))
        .unwrap();
    let zainab = store
        .create_case(&case("Zaïnab", "Nakato", "+256 701 987654", "C7654321"))
        .unwrap();
    store
        .create_case(&case("Grace", "Achieng", "+254 722 111222", "K0001112"))
        .unwrap();

    let ids = |q: SearchQuery| {
        store
            .search(&q)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(SearchQuery::Name("muhammad".into())), vec![mohammed]);
    assert_eq!(
        ids(SearchQuery::Name("MOHAMED alhassan".into())),
        vec![mohammed]
    );
    assert_eq!(ids(SearchQuery::Name("Zainab".into())), vec![zainab]);
    assert_eq!(ids(SearchQuery::Name("zainab nakato".into())), vec![zainab]);
    assert!(ids(SearchQuery::Name("zainab achieng".into())).is_empty());
    assert!(ids(SearchQuery::Name("".into())).is_empty());
    assert_eq!(ids(SearchQuery::Phone("0701 987 654".into())), vec![zainab]);
    assert_eq!(
        ids(SearchQuery::Phone("+256701987654".into())),
        vec![zainab]
    );
    assert_eq!(
        ids(SearchQuery::Document("b 123 4567".into())),
        vec![mohammed]
    );
    assert!(ids(SearchQuery::Document("B7654321".into())).is_empty());
}

#[test]
fn the_index_follows_edits() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let changes: Fields = [("family_name".to_string(), serde_json::json!("Namubiru"))].into();
    store.update_case(&id, changes).unwrap();
    assert!(store
        .search(&SearchQuery::Name("Nakato".into()))
        .unwrap()
        .is_empty());
    assert_eq!(
        store.search(&SearchQuery::Name("namubiru".into())).unwrap()[0].id,
        id
    );
    assert_eq!(
        store.search(&SearchQuery::Name("amina".into())).unwrap()[0].id,
        id
    );
}
