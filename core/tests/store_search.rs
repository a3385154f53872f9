//! Search through blind indexes, answered with sealed case summaries: names across spellings
//! and as they are typed, phones across formats, documents; ranking and the result cap; the
//! summaries following every change of a case (edit, sync, import), and their integrity.

mod common;
use common::*;
use fieldcase_core::model::Fields;
use fieldcase_core::store::{
    MatchKind, SearchHit, SearchQuery, Store, StoreError, MAX_PREFIX_CHARS, MAX_SEARCH_RESULTS,
};
use fieldcase_core::{FieldChange, Hlc, OpId, Operation, RecordId, RecordKind};
use serde_json::json;

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
            .map(|r| r.summary.id)
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
        store.search(&SearchQuery::Name("namubiru".into())).unwrap()[0]
            .summary
            .id,
        id
    );
    assert_eq!(
        store.search(&SearchQuery::Name("amina".into())).unwrap()[0]
            .summary
            .id,
        id
    );
}

fn found(store: &Store, text: &str) -> Vec<(RecordId, MatchKind)> {
    store
        .search(&SearchQuery::Name(text.into()))
        .unwrap()
        .into_iter()
        .map(|hit| (hit.summary.id, hit.matched))
        .collect()
}

#[test]
fn results_are_summaries_of_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let hits = store
        .search(&SearchQuery::Phone("0772 123 456".into()))
        .unwrap();
    let [SearchHit { summary, matched }] = hits.as_slice() else {
        panic!("one hit expected, got {}", hits.len());
    };
    assert_eq!(*matched, MatchKind::Exact);
    assert_eq!(summary.id, id);
    assert_eq!(summary.given_name.as_deref(), Some("Amina"));
    assert_eq!(summary.family_name.as_deref(), Some("Nakato"));
    assert_eq!(summary.display_name().as_deref(), Some("Amina Nakato"));
    assert_eq!(summary.sex.as_deref(), Some("female"));
    assert_eq!(summary.date_of_birth.as_deref(), Some("1995-03"));
    assert_eq!(summary.nationality.as_deref(), Some("UGA"));
    assert_eq!(summary.intake_date.as_deref(), Some("2026-10-01"));
    assert_eq!(summary.status, "open");
    assert_eq!(summary.owner_agency, "iom_uga");
    assert_eq!(&store.case_summary(&id).unwrap(), summary);
    // Debug output carries no name.
    assert!(!format!("{summary:?}").contains("Amina"));
}

#[test]
fn exact_spellings_rank_before_alike_names_and_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mohammed = store
        .create_case(&case("Mohammed", "Okafor", "+256 772 000001", "B0000001"))
        .unwrap();
    // Newer than the exact match, yet ranked after it.
    let muhammad = store
        .create_case(&case("Muhammad", "Okafor", "+256 772 000002", "B0000002"))
        .unwrap();
    let mohammedi = store
        .create_case(&case("Mohammedi", "Okafor", "+256 772 000003", "B0000003"))
        .unwrap();
    assert_eq!(
        found(&store, "Mohammed"),
        vec![
            (mohammed, MatchKind::Exact),
            (muhammad, MatchKind::Phonetic),
            (mohammedi, MatchKind::Prefix),
        ]
    );
    // Two words: the first whole, the second being typed.
    assert_eq!(
        found(&store, "okafor moh"),
        vec![
            (mohammedi, MatchKind::Prefix),
            (mohammed, MatchKind::Prefix)
        ]
    );
    // A trailing space says the word is complete: no prefix matches.
    assert_eq!(
        found(&store, "Mohammed "),
        vec![
            (mohammed, MatchKind::Exact),
            (muhammad, MatchKind::Phonetic)
        ]
    );
    assert!(found(&store, "mo").is_empty(), "two letters are no prefix");
}

#[test]
fn prefixes_longer_than_the_index_are_checked_on_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let nakato = store
        .create_case(&case("Amina", "Nakato", "+256 772 000001", "B0000001"))
        .unwrap();
    let nakatu = store
        .create_case(&case("Grace", "Nakatumba", "+256 772 000002", "B0000002"))
        .unwrap();
    assert_eq!(
        MAX_PREFIX_CHARS, 5,
        "the queries below straddle the indexed length"
    );
    assert_eq!(
        found(&store, "nakat"),
        vec![(nakatu, MatchKind::Prefix), (nakato, MatchKind::Prefix)]
    );
    // "Nakato" folds to "nakatu" (a final o is a u): alike, and ranked first.
    assert_eq!(
        found(&store, "nakatu"),
        vec![(nakato, MatchKind::Phonetic), (nakatu, MatchKind::Prefix)]
    );
    assert_eq!(found(&store, "nakatum"), vec![(nakatu, MatchKind::Prefix)]);
    assert!(found(&store, "nakatx").is_empty());
    assert_eq!(found(&store, "nakato"), vec![(nakato, MatchKind::Exact)]);
}

#[test]
fn results_are_capped_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let mut ids: Vec<RecordId> = (0..MAX_SEARCH_RESULTS + 5)
        .map(|i| {
            store
                .create_case(&case(
                    "Halima",
                    "Okafor",
                    &format!("+256 772 {i:06}"),
                    &format!("B{i:07}"),
                ))
                .unwrap()
        })
        .collect();
    // Newest first: ids are time-ordered.
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.truncate(MAX_SEARCH_RESULTS);
    let hits = found(&store, "halima okafor");
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), ids);
    assert!(hits.iter().all(|h| h.1 == MatchKind::Exact));
    assert_eq!(found(&store, "hal").len(), MAX_SEARCH_RESULTS);
}

#[test]
fn summaries_follow_edits_and_lists_show_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let other = store
        .create_case(&case("Grace", "Achieng", "+254 722 111222", "K0001112"))
        .unwrap();
    let changes: Fields = [
        ("given_name".to_string(), json!("Aminah")),
        ("status".to_string(), json!("active")),
        ("sex".to_string(), json!("unknown")),
    ]
    .into();
    store.update_case(&id, changes).unwrap();
    let summary = store.case_summary(&id).unwrap();
    assert_eq!(summary.given_name.as_deref(), Some("Aminah"));
    assert_eq!(summary.status, "active");
    assert_eq!(summary.sex.as_deref(), Some("unknown"));
    assert_eq!(found(&store, "aminah"), vec![(id, MatchKind::Exact)]);

    let listed: Vec<RecordId> = store
        .list_case_summaries(None, 10, 0)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![id, other], "most recently changed first");
    let active = store.list_case_summaries(Some("active"), 10, 0).unwrap();
    assert_eq!(active, vec![summary]);
}

/// A remote change of a case, as a sync page would carry it.
fn remote_change(id: RecordId, seq: u64, fields: Fields) -> Operation {
    let hlc = Hlc {
        wall_ms: fieldcase_core::hlc::now_ms() + 1000,
        counter: 0,
        device: fieldcase_core::DeviceId::from_bytes([9; 16]),
    };
    Operation {
        op_id: OpId {
            device: hlc.device,
            seq,
        },
        kind: RecordKind::Case,
        record_id: id,
        hlc,
        fields: fields
            .into_iter()
            .map(|(k, value)| (k, FieldChange::fresh(value)))
            .collect(),
    }
}

#[test]
fn summaries_and_index_follow_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let id = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    // An edit from another device, and a case only another device has seen so far.
    let arriving = RecordId::new();
    let new_case = case("Tigist", "Tesfaye", "+251 911 000111", "E0000111").to_fields();
    let edit: Fields = [("family_name".to_string(), json!("Namubiru"))].into();
    store
        .apply_remote(
            &[
                remote_change(id, 1, edit),
                remote_change(arriving, 2, new_case),
            ],
            "cursor-1",
        )
        .unwrap();
    assert_eq!(
        store.case_summary(&id).unwrap().family_name.as_deref(),
        Some("Namubiru")
    );
    assert!(found(&store, "nakato").is_empty());
    assert_eq!(found(&store, "namubiru"), vec![(id, MatchKind::Exact)]);
    assert_eq!(
        found(&store, "tigist tes"),
        vec![(arriving, MatchKind::Prefix)]
    );
    assert_eq!(
        store
            .case_summary(&arriving)
            .unwrap()
            .nationality
            .as_deref(),
        Some("UGA")
    );
}

#[test]
fn imported_cases_have_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let lines = format!(
        "{}\n{}\n",
        case_json("Halima", "Importfamily", "+256 772 000001", "B0000001"),
        case_json("Blessing", "Okafor", "+256 772 000002", "B0000002")
    );
    store
        .import_jsonl(lines.as_bytes(), &Default::default(), &mut |_| {})
        .unwrap();
    let hits = store
        .search(&SearchQuery::Name("importfam".into()))
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].summary.given_name.as_deref(), Some("Halima"));
    assert_eq!(store.list_case_summaries(None, 10, 0).unwrap().len(), 2);
}

#[test]
fn a_summary_altered_or_moved_at_rest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "a");
    let mut store = new_store(dir.path(), "a", 1);
    let amina = store
        .create_case(&case("Amina", "Nakato", "+256 772 123456", "B1234567"))
        .unwrap();
    let grace = store
        .create_case(&case("Grace", "Achieng", "+254 722 111222", "K0001112"))
        .unwrap();
    store.close().unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    // Grace's sealed summary copied onto Amina's row.
    conn.execute(
        "UPDATE case_summaries SET summary = (SELECT summary FROM case_summaries WHERE id = ?1)
         WHERE id = ?2",
        [&grace.as_bytes()[..], &amina.as_bytes()[..]],
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path, PASSPHRASE, None, &options()).unwrap();
    assert!(matches!(
        store.case_summary(&amina),
        Err(StoreError::Integrity {
            table: "case_summaries",
            ..
        })
    ));
    assert!(matches!(
        store.search(&SearchQuery::Name("amina".into())),
        Err(StoreError::Integrity { .. })
    ));
    assert_eq!(
        store.case_summary(&grace).unwrap().given_name.as_deref(),
        Some("Grace")
    );
}

/// Two words typed together are looked up as a pair of words of one full name (one index
/// list, `store::name_pairs`): in either order, the second perhaps unfinished, and never a
/// given name of one person with the family name of another.
#[test]
fn two_words_find_given_and_family_name_in_either_order_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = new_store(dir.path(), "a", 1);
    let amina = store
        .create_case(&case("Amina", "Okello", "+256 772 000001", "A0000001"))
        .unwrap();
    let grace = store
        .create_case(&case("Grace", "Okello", "+256 772 000002", "A0000002"))
        .unwrap();
    let amina_nakato = store
        .create_case(&case("Amina", "Nakato", "+256 772 000003", "A0000003"))
        .unwrap();
    let nguyen = store
        .create_case(&case("Nguyen", "Nguyen", "+256 772 000004", "A0000004"))
        .unwrap();
    let mohammed = store
        .create_case(&case(
            "Mohammed",
            "Al-Hassan",
            "+256 772 000005",
            "A0000005",
        ))
        .unwrap();

    for text in ["Amina Okello", "okello amina", "AMINA  OKELLO "] {
        assert_eq!(
            found(&store, text),
            vec![(amina, MatchKind::Exact)],
            "{text}"
        );
    }
    // Alike spellings of both words.
    assert_eq!(
        found(&store, "Aminah Okelo "),
        vec![(amina, MatchKind::Phonetic)]
    );
    assert_eq!(
        found(&store, "muhammad alhassan "),
        vec![(mohammed, MatchKind::Phonetic)]
    );
    // As typed: a word and the start of the other, either order, any length of prefix.
    for text in [
        "amina oke",
        "amina okel",
        "Amina Okell",
        "okello ami",
        "okello amin",
    ] {
        assert_eq!(
            found(&store, text),
            vec![(amina, MatchKind::Prefix)],
            "{text}"
        );
    }
    assert_eq!(found(&store, "grace oke"), vec![(grace, MatchKind::Prefix)]);
    assert_eq!(
        found(&store, "amina nak"),
        vec![(amina_nakato, MatchKind::Prefix)]
    );
    // A prefix that starts a name but not this one is checked on the summary.
    assert!(found(&store, "amina okez").is_empty());
    // Given name of one person, family name of another: no match.
    assert!(found(&store, "grace nakato").is_empty());
    assert!(found(&store, "grace nak").is_empty());
    // A word typed twice is one word; a name with a word twice has it in two places.
    assert_eq!(
        found(&store, "nguyen nguyen "),
        vec![(nguyen, MatchKind::Exact)]
    );
    assert_eq!(
        found(&store, "nguyen ngu"),
        vec![(nguyen, MatchKind::Prefix)]
    );
    // The prefix of the word typed in full is another word's, not the same word's.
    assert!(found(&store, "okello oke").is_empty());
    // One word still finds everyone who has it.
    let okellos: Vec<RecordId> = found(&store, "okello ")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(okellos, vec![grace, amina]);
}
