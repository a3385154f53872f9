//! Conformance checks of the report side of [`Storage`]: facts follow merged state, match
//! blocks and duplicate decisions, API tokens.

use super::*;
use crate::reports::facts::FactFilter;
use crate::reports::matching::BlockSlice;
use crate::roles::Grant;
use crate::service::Service;
use fieldcase_core::model::codes::{ExploitationType, Sex};
use fieldcase_core::model::{Country, Date};
use serde_json::{json, Value};

fn op_with(device: &DeviceAuth, seq: u64, record: RecordId, fields: &[(&str, Value)]) -> Operation {
    let mut op = case_op(device, seq, record);
    op.fields = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), FieldChange::fresh(v.clone())))
        .collect();
    op
}

/// The identifying fields of a person of `nationality` and `sex`, for the matching checks.
fn person_of(
    nationality: &str,
    sex: &str,
    given: &str,
    family: &str,
    dob: &str,
) -> Vec<(&'static str, Value)> {
    vec![
        ("given_name", json!(given)),
        ("family_name", json!(family)),
        ("date_of_birth", json!(dob)),
        ("nationality", json!(nationality)),
        ("sex", json!(sex)),
    ]
}

/// A reviewer's decision on the pair (`x`, `y`).
fn decision(x: RecordId, y: RecordId, confirmed: bool) -> DuplicateDecision {
    DuplicateDecision {
        record_a: x,
        record_b: y,
        confirmed,
        decided_at_ms: NOW,
        decided_by: "u1".into(),
    }
}

fn rows(store: &dyn Storage, filter: &FactFilter) -> Vec<crate::reports::facts::CaseFactRow> {
    let mut out = Vec::new();
    store.scan_case_facts(filter, &mut |r| out.push(r)).unwrap();
    out
}

pub fn report_facts_follow_merged_state(store: &dyn Storage) {
    let device = enrolled(store, "iom_uga");
    let record = RecordId::new();
    let first = op_with(
        &device,
        1,
        record,
        &[
            ("sex", json!("female")),
            ("nationality", json!("ETH")),
            ("country_of_assistance", json!("UGA")),
            ("intake_date", json!("2025-03-01")),
            ("date_of_birth", json!("2000-01-15")),
            ("categories", json!(["victim_of_trafficking"])),
            ("exploitation_types", json!(["sexual", "labour"])),
        ],
    );
    store.push(&device, &[first], NOW).unwrap();
    let all = rows(store, &FactFilter::default());
    assert_eq!(all.len(), 1);
    let f = &all[0].facts;
    assert_eq!(all[0].record, record);
    assert_eq!(all[0].agency, agency("iom_uga"));
    assert_eq!(f.sex, Some(Sex::Female));
    assert_eq!((f.age_group, f.age_band), (Some("18+"), Some("25-34")));
    assert!(f.exploitation_types.contains(&ExploitationType::Labour));

    let year = |y| FactFilter {
        from: Date::new(y, 1, 1),
        to: Date::new(y, 12, 31),
        ..FactFilter::default()
    };
    assert_eq!(rows(store, &year(2025)).len(), 1);
    assert_eq!(rows(store, &year(2024)).len(), 0);
    let elsewhere = FactFilter {
        countries: Some(vec![Country::parse("KEN").unwrap()]),
        ..FactFilter::default()
    };
    assert_eq!(rows(store, &elsewhere).len(), 0);
    let other_agency = FactFilter {
        agency: Some(agency("iom_ken")),
        ..FactFilter::default()
    };
    assert_eq!(rows(store, &other_agency).len(), 0);

    // An edit moves the facts with the state, in the same push.
    store
        .push(
            &device,
            &[op_with(&device, 2, record, &[("sex", json!("male"))])],
            NOW,
        )
        .unwrap();
    let all = rows(store, &FactFilter::default());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].facts.sex, Some(Sex::Male));
    assert_eq!(all[0].facts.nationality, Country::parse("ETH").ok());
}

pub fn match_blocks_and_duplicate_decisions(store: &dyn Storage) {
    let uga = enrolled(store, "iom_uga");
    let ken = enrolled(store, "iom_ken");
    let person =
        |given: &str, family: &str, dob: &str| person_of("SOM", "female", given, family, dob);
    let (a, b) = (RecordId::new(), RecordId::new());
    store
        .push(
            &uga,
            &[op_with(
                &uga,
                1,
                a,
                &person("Hodan", "Abdi Warsame", "1991-04-02"),
            )],
            NOW,
        )
        .unwrap();
    store
        .push(
            &ken,
            &[op_with(&ken, 1, b, &person("Warsame", "Hodan", "1991"))],
            NOW,
        )
        .unwrap();
    let mut blocks: Vec<(crate::reports::matching::BlockKey, RecordId)> = Vec::new();
    store
        .scan_match_blocks(BlockSlice::ALL, &mut |block, member| {
            blocks.push((*block, member.record))
        })
        .unwrap();
    // A slice ending at the last block's prefix: exactly the blocks below it, read whole.
    let last = blocks.last().expect("shared blocks").0;
    let slice = BlockSlice::share(f64::from(u16::from_be_bytes([last[0], last[1]])) / 65_536.0);
    let mut sliced: Vec<(crate::reports::matching::BlockKey, RecordId)> = Vec::new();
    store
        .scan_match_blocks(slice, &mut |block, member| {
            sliced.push((*block, member.record))
        })
        .unwrap();
    let mut expected: Vec<_> = blocks
        .iter()
        .filter(|(block, _)| slice.contains(block))
        .copied()
        .collect();
    // Members of a block come in no promised order.
    for v in [&mut sliced, &mut expected] {
        v.sort_by_key(|(block, record)| (*block, *record.as_bytes()));
    }
    assert_eq!(sliced, expected, "a slice is the blocks below its bound");
    assert!(sliced.len() < blocks.len(), "the last block is left out");
    assert!(
        blocks.windows(2).all(|w| w[0].0 <= w[1].0),
        "sorted by block"
    );
    let shared = blocks
        .windows(2)
        .any(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1);
    assert!(
        shared,
        "swapped names and a partial date of birth share a block"
    );
    let sample = store.match_profile_sample(10).unwrap();
    assert_eq!(sample.cases, 2);
    assert_eq!(
        sample.profiles.len(),
        2,
        "a sample larger than the caseload is all of it"
    );
    assert!(sample
        .profiles
        .iter()
        .all(|p| p.nationality == Country::parse("SOM").ok()));
    assert_eq!(store.match_profile_sample(1).unwrap().profiles.len(), 1);
    let none = store.match_profile_sample(0).unwrap();
    assert!(none.profiles.is_empty() && none.cases == 2);

    let decide = decision;
    store.decide_duplicate(&decide(b, a, true)).unwrap();
    let links = store.confirmed_duplicate_links().unwrap();
    assert_eq!(links.len(), 1);
    assert!(links[0] == (a, b) || links[0] == (b, a));
    store.decide_duplicate(&decide(a, b, false)).unwrap();
    assert!(
        store.confirmed_duplicate_links().unwrap().is_empty(),
        "a later decision replaces"
    );
    assert_eq!(store.duplicate_decisions().unwrap().len(), 1);
    assert!(matches!(
        store.decide_duplicate(&decide(a, RecordId::new(), true)),
        Err(StorageError::NotFound(_))
    ));
    let summaries = store.case_summaries(&[a, RecordId::new()]).unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].agency, agency("iom_uga"));

    // A correction that makes `b` another person leaves none of its old blocks behind: the
    // old ones are found from its old profile and deleted.
    let other = [
        ("given_name", json!("Achieng")),
        ("family_name", json!("Otieno")),
        ("date_of_birth", json!("1980-07-19")),
        ("nationality", json!("KEN")),
    ];
    store
        .push(&ken, &[op_with(&ken, 2, b, &other)], NOW)
        .unwrap();
    // Scans visit shared blocks only: a namesake of the corrected case shows its new blocks.
    let c = RecordId::new();
    store
        .push(&uga, &[op_with(&uga, 2, c, &other)], NOW)
        .unwrap();
    let mut members: std::collections::BTreeMap<_, Vec<RecordId>> = Default::default();
    store
        .scan_match_blocks(BlockSlice::ALL, &mut |block, member| {
            members.entry(*block).or_default().push(member.record)
        })
        .unwrap();
    assert!(
        members
            .values()
            .all(|m| !(m.contains(&a) && m.contains(&b))),
        "no block still pairs the corrected case with its former namesake"
    );
    assert!(
        members.values().any(|m| m.contains(&b) && m.contains(&c)),
        "the corrected case has its new blocks"
    );
}

/// The review list's cache answers like a fresh scan: a new duplicate pushed after a scan is
/// listed on the next request, and a decision shows at once.
pub fn cached_duplicate_candidates_follow_the_log(store: &dyn Storage) {
    cached_duplicate_candidates_follow_writes_of(store, store);
}

/// The duplicate-candidate cache of a process reading `reader` stays correct while another
/// process writes through `writer` (the same database): pushes and decisions made elsewhere
/// show in its next review list.
pub fn cached_duplicate_candidates_follow_writes_of(reader: &dyn Storage, writer: &dyn Storage) {
    use crate::reports::duplicates::{review_list, CandidateCache, Status};
    let uga = enrolled(writer, "iom_uga");
    let ken = enrolled(writer, "iom_ken");
    let person =
        |given: &str, family: &str, dob: &str| person_of("ERI", "male", given, family, dob);
    let cache = CandidateCache::default();
    let log_before = reader.log_end().unwrap();
    let (a, b) = (RecordId::new(), RecordId::new());
    writer
        .push(
            &uga,
            &[op_with(
                &uga,
                1,
                a,
                &person("Yonas", "Tesfay", "1988-01-09"),
            )],
            NOW,
        )
        .unwrap();
    assert!(
        reader.log_end().unwrap() > log_before,
        "a push moves the log end"
    );
    assert!(cache.review_list(reader).unwrap().0.is_empty());

    writer
        .push(
            &ken,
            &[op_with(&ken, 1, b, &person("Tesfay", "Yonas", "1988"))],
            NOW,
        )
        .unwrap();
    let (cached, _) = cache.review_list(reader).unwrap();
    assert_eq!(
        cached.len(),
        1,
        "the pair pushed after the last scan is listed"
    );
    assert_eq!(cached, review_list(reader).unwrap().0);

    writer.decide_duplicate(&decision(a, b, true)).unwrap();
    let (after, _) = cache.review_list(reader).unwrap();
    assert_eq!(
        after[0].status,
        Status::Confirmed,
        "decisions are read fresh"
    );
    assert_eq!(after, review_list(reader).unwrap().0);
}

/// When scans are long, a request after new pushes gets the last list at once (decisions
/// current) while a new scan runs in the background; the next request after it ends lists the
/// new pair. (`limit` zero makes every scan count as long.)
pub fn a_long_scan_is_served_while_a_newer_one_runs(store: std::sync::Arc<dyn Storage>) {
    use crate::reports::duplicates::{review_list, CandidateCache, Status};
    let cache = std::sync::Arc::new(CandidateCache::with_foreground_limit(
        std::time::Duration::ZERO,
    ));
    let uga = enrolled(&*store, "iom_uga");
    let ken = enrolled(&*store, "iom_ken");
    let person =
        |given: &str, family: &str, dob: &str| person_of("ERI", "male", given, family, dob);
    let (a, b, c, d) = (
        RecordId::new(),
        RecordId::new(),
        RecordId::new(),
        RecordId::new(),
    );
    store
        .push(
            &uga,
            &[
                op_with(&uga, 1, a, &person("Yonas", "Tesfay", "1988-01-09")),
                op_with(&uga, 2, c, &person("Selam", "Haile", "1991-05-02")),
            ],
            NOW,
        )
        .unwrap();
    store
        .push(
            &ken,
            &[op_with(&ken, 1, b, &person("Tesfay", "Yonas", "1988"))],
            NOW,
        )
        .unwrap();
    let first = cache.review_listing(&store).unwrap();
    assert_eq!(
        first.candidates.len(),
        1,
        "no scan yet: scanned on the request"
    );
    assert!(!first.refreshing);

    // A second double entry, and a decision on the first pair.
    store
        .push(
            &ken,
            &[op_with(&ken, 2, d, &person("Selam", "Hayle", "1991-05-02"))],
            NOW,
        )
        .unwrap();
    store.decide_duplicate(&decision(a, b, true)).unwrap();
    let served = cache.review_listing(&store).unwrap();
    assert_eq!(
        served.scanned_at_ms, first.scanned_at_ms,
        "the last scan's list"
    );
    assert_eq!(
        served.candidates.len(),
        1,
        "the new pair waits for the new scan"
    );
    assert_eq!(
        served.candidates[0].status,
        Status::Confirmed,
        "decisions are current"
    );

    let waited = std::time::Instant::now();
    while cache.is_refreshing() {
        assert!(
            waited.elapsed().as_secs() < 60,
            "the background scan never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let refreshed = cache.review_listing(&store).unwrap();
    assert!(!refreshed.refreshing);
    assert_eq!(
        refreshed.candidates.len(),
        2,
        "the new pair, once the scan ended"
    );
    assert_eq!(refreshed.candidates, review_list(&*store).unwrap().0);
    assert_eq!(cache.scans_run(), 2);

    // A request while a warm-up scan runs waits for that scan instead of running a second
    // one; a warm-up with a list already kept starts nothing. (The saved list of the scans
    // above is replaced by one that does not open: a warm-up then scans.)
    write(&*store, |tx| {
        tx.put_setting(crate::reports::saved_review::SETTING_KEY, b"not a list")
    })
    .unwrap();
    let warmed = std::sync::Arc::new(CandidateCache::default());
    warmed.warm_up(&store);
    let first = warmed.review_listing(&store).unwrap();
    assert_eq!(first.candidates, refreshed.candidates);
    warmed.warm_up(&store);
    assert!(!warmed.is_refreshing());
    assert_eq!(warmed.scans_run(), 1);
}

/// The list of a long scan is saved, sealed: a server that starts again (`restarted`, a second
/// handle on the same database, as another process or the next start holds) serves it to its
/// first reviewer without scanning, and when operations came in since, serves it while a new
/// scan runs; a saved list that does not open is scanned over, never served.
pub fn a_saved_long_scan_is_served_after_a_restart(
    store: std::sync::Arc<dyn Storage>,
    restarted: impl Fn() -> std::sync::Arc<dyn Storage>,
) {
    use crate::reports::duplicates::{review_list, CandidateCache};
    use crate::reports::saved_review::SETTING_KEY;
    use std::sync::Arc;
    let long_scans = || {
        Arc::new(CandidateCache::with_foreground_limit(
            std::time::Duration::ZERO,
        ))
    };
    let uga = enrolled(&*store, "iom_uga");
    let ken = enrolled(&*store, "iom_ken");
    let person =
        |given: &str, family: &str, dob: &str| person_of("ERI", "female", given, family, dob);
    let ids: Vec<RecordId> = (0..5).map(|_| RecordId::new()).collect();
    store
        .push(
            &uga,
            &[
                op_with(&uga, 1, ids[0], &person("Yonas", "Tesfay", "1988-01-09")),
                op_with(&uga, 2, ids[1], &person("Selam", "Haile", "1991-05-02")),
            ],
            NOW,
        )
        .unwrap();
    store
        .push(
            &ken,
            &[
                op_with(&ken, 1, ids[2], &person("Tesfay", "Yonas", "1988")),
                op_with(&ken, 2, ids[3], &person("Selam", "Hayle", "1991-05-02")),
            ],
            NOW,
        )
        .unwrap();
    let first = long_scans().review_listing(&store).unwrap();
    assert_eq!(first.candidates.len(), 2);
    let raw = read(&*store, |tx| tx.setting(SETTING_KEY))
        .unwrap()
        .expect("a long scan's list is saved");
    for id in &ids {
        assert!(
            !raw.windows(16).any(|w| w == id.as_bytes()),
            "the saved list is sealed: no record id in the clear"
        );
    }

    // Started again with nothing new: the saved list, no scan.
    let store = restarted();
    let cache = long_scans();
    let served = cache.review_listing(&store).unwrap();
    assert_eq!(served.candidates, first.candidates);
    assert_eq!(served.scanned_at_ms, first.scanned_at_ms);
    assert!(!served.refreshing);
    assert_eq!(cache.scans_run(), 0);

    // Started again after a new double entry: the saved list at once, the new pair once the
    // background scan ends.
    store
        .push(
            &ken,
            &[op_with(
                &ken,
                3,
                ids[4],
                &person("Selam", "Haile", "1991-05-02"),
            )],
            NOW,
        )
        .unwrap();
    let store = restarted();
    let cache = long_scans();
    let served = cache.review_listing(&store).unwrap();
    assert_eq!(
        served.candidates, first.candidates,
        "the saved list, at once"
    );
    assert!(served.refreshing, "with a new scan under way");
    let waited = std::time::Instant::now();
    while cache.is_refreshing() {
        assert!(
            waited.elapsed().as_secs() < 60,
            "the background scan never ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let current = cache.review_listing(&store).unwrap();
    assert_eq!(
        current.candidates.len(),
        4,
        "the new case pairs with both its twins"
    );
    assert_eq!(current.candidates, review_list(&*store).unwrap().0);
    assert_eq!(cache.scans_run(), 1);

    // A saved list that does not open, or opens but is not a list, is scanned over.
    for sealed in [false, true] {
        write(&*store, |tx| match sealed {
            false => tx.put_setting(SETTING_KEY, b"not a sealed list"),
            true => tx.put_secret_setting(SETTING_KEY, b"sealed, but not a list"),
        })
        .unwrap();
        let cache = long_scans();
        let listing = cache.review_listing(&store).unwrap();
        assert_eq!(listing.candidates, current.candidates, "sealed: {sealed}");
        assert_eq!(cache.scans_run(), 1);
    }
}

pub fn api_tokens_carry_their_user(store: &dyn Storage) {
    store.create_agency(&agency("hq"), "HQ", NOW).unwrap();
    let user = store
        .create_user(
            &NewUser {
                agency: agency("hq"),
                role: Role::Analyst,
                display_name: "Analyst".into(),
            },
            NOW,
        )
        .unwrap();
    let hash = hash_secret(SecretKind::ApiToken, "secret");
    store
        .create_api_token(&NewApiToken {
            token_hash: hash,
            user_id: user.id.clone(),
            grants: [Grant::ExactCounts].into(),
            label: "reports".into(),
            created_at_ms: NOW,
            limited_to: None,
            expires_at_ms: NOW + 1000,
        })
        .unwrap();
    let found = store.api_token_user(&hash, NOW).unwrap().unwrap();
    assert_eq!(found.user, user);
    assert_eq!(found.grants, [Grant::ExactCounts].into());
    assert!(store
        .api_token_user(&hash_secret(SecretKind::ApiToken, "other"), NOW)
        .unwrap()
        .is_none());
    assert!(store
        .api_token_user(&hash_secret(SecretKind::AdminToken, "secret"), NOW)
        .unwrap()
        .is_none());
    assert!(matches!(
        store.create_api_token(&NewApiToken {
            token_hash: hash_secret(SecretKind::ApiToken, "x"),
            user_id: "nobody".into(),
            grants: Default::default(),
            label: "x".into(),
            created_at_ms: NOW,
            limited_to: None,
            expires_at_ms: NOW + 1000,
        }),
        Err(StorageError::NotFound("user"))
    ));

    // Revocation: every live token of the user stops, and only theirs.
    let second = hash_secret(SecretKind::ApiToken, "second secret");
    store
        .create_api_token(&NewApiToken {
            token_hash: second,
            user_id: user.id.clone(),
            grants: Default::default(),
            label: "laptop".into(),
            created_at_ms: NOW,
            limited_to: None,
            expires_at_ms: NOW + 1000,
        })
        .unwrap();
    assert_eq!(store.revoke_api_tokens(&user.id, NOW + 1).unwrap(), 2);
    assert!(store.api_token_user(&hash, NOW).unwrap().is_none());
    assert!(store.api_token_user(&second, NOW).unwrap().is_none());
    assert_eq!(store.revoke_api_tokens(&user.id, NOW + 2).unwrap(), 0);
    assert!(matches!(
        store.revoke_api_tokens("nobody", NOW),
        Err(StorageError::NotFound("user"))
    ));
}

/// The report cache reuses an answer only while nothing it counts has changed: a push (the
/// log grows) and a duplicate decision (the links change) each make the next request compute
/// afresh, and its figures are the engine's.
pub fn cached_reports_follow_the_log_and_decisions(store: &dyn Storage) {
    use crate::reports::cache::ReportCache;
    use crate::reports::engine::{compute, CountMode, ReportRequest};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let device = enrolled(store, "iom_uga");
    let case = |sex: &str| {
        vec![
            ("sex", json!(sex)),
            ("nationality", json!("ERI")),
            ("intake_date", json!("2025-03-01")),
        ]
    };
    let (a, b) = (RecordId::new(), RecordId::new());
    store
        .push(&device, &[op_with(&device, 1, a, &case("female"))], NOW)
        .unwrap();
    let request = ReportRequest {
        filter: FactFilter::default(),
        count: CountMode::Individuals,
        tables: vec!["by_sex"],
        keys: None,
    };
    let cache = ReportCache::default();
    let computed = std::sync::Arc::new(AtomicUsize::new(0));
    let recipe = {
        let computed = computed.clone();
        let request = request.clone();
        std::sync::Arc::new(move |store: &dyn Storage| {
            computed.fetch_add(1, Ordering::SeqCst);
            compute(store, &request)
        })
    };
    let ask = |key: &str| {
        cache
            .get_or_compute(store, key, recipe.clone(), true)
            .unwrap()
    };
    let total = |answer: &crate::reports::cache::Published| answer.0[0].total.unwrap().count;

    let first = ask("by_sex");
    assert_eq!(total(&first), Some(1));
    let again = ask("by_sex");
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "the same answer, kept"
    );
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    ask("another request");
    assert_eq!(
        computed.load(Ordering::SeqCst),
        2,
        "another request is computed"
    );

    store
        .push(&device, &[op_with(&device, 2, b, &case("female"))], NOW)
        .unwrap();
    let after_push = ask("by_sex");
    assert_eq!(
        computed.load(Ordering::SeqCst),
        3,
        "a push makes the next answer new"
    );
    assert_eq!(total(&after_push), Some(2));

    store.decide_duplicate(&decision(a, b, true)).unwrap();
    let after_decision = ask("by_sex");
    assert_eq!(
        computed.load(Ordering::SeqCst),
        4,
        "a confirmed link makes the next answer new"
    );
    assert_eq!(
        total(&after_decision),
        Some(1),
        "two records, one individual"
    );
    assert_eq!(ask("by_sex"), after_decision);
    assert_eq!(computed.load(Ordering::SeqCst), 4);

    // After new data, a refresh computes again the answers asked most recently, and the next
    // request finds the new figures without computing.
    let hour = std::time::Duration::from_secs(3600);
    store
        .push(
            &device,
            &[op_with(&device, 3, RecordId::new(), &case("male"))],
            NOW,
        )
        .unwrap();
    assert_eq!(
        cache.refresh(store, 1, hour).unwrap(),
        1,
        "at most the number asked"
    );
    assert_eq!(computed.load(Ordering::SeqCst), 5);
    let fresh = ask("by_sex");
    assert_eq!(
        computed.load(Ordering::SeqCst),
        5,
        "served from the refreshed answer"
    );
    assert_eq!(total(&fresh), Some(2), "one linked pair and a new person");
    assert_eq!(
        cache.refresh(store, 4, hour).unwrap(),
        1,
        "then the older request"
    );
    assert_eq!(
        cache.refresh(store, 4, hour).unwrap(),
        0,
        "nothing is stale"
    );
    store
        .push(
            &device,
            &[op_with(&device, 4, RecordId::new(), &case("male"))],
            NOW,
        )
        .unwrap();
    assert_eq!(
        cache.refresh(store, 4, std::time::Duration::ZERO).unwrap(),
        0,
        "none asked recently enough"
    );
    let month = cache.get_or_compute(store, "a month", recipe.clone(), false);
    assert!(month.is_ok());
    store
        .push(
            &device,
            &[op_with(&device, 5, RecordId::new(), &case("male"))],
            NOW,
        )
        .unwrap();
    assert_eq!(
        cache.refresh(store, 4, hour).unwrap(),
        2,
        "the two refreshable requests, not the month"
    );
}
