//! The first review of a caseload too large to compare while a reviewer waits: a first look
//! at a slice of the match blocks is served while the whole comparison runs, then replaced.
//! The whole scan is held ([`FaultyStorage::hold_whole_scans`]) so the test sees both states
//! whatever the machine's speed.

use crate::faulty::FaultyStorage;
use fieldcase_core::model::Case;
use fieldcase_core::population::Population;
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::reports::duplicates::{CandidateCache, Status};
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::Storage;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Generated cases (a tenth of the people recorded twice by a second agency), loaded.
const CASES: usize = 600;
/// Caseloads above this take a first look: a slice of (0.6 · 200 / 600)^1.5, some 9% of the
/// blocks.
const FIRST_LOOK_ABOVE: u64 = 200;

fn loaded(dir: &std::path::Path) -> FaultyStorage<Box<SqliteStorage>> {
    let storage = SqliteStorage::open(&dir.join("server.db"), Sealer::from_key(&[9; 32])).unwrap();
    let mut by_agency: HashMap<&'static str, Vec<(RecordId, Case)>> = HashMap::new();
    for record in Population::new(3, 0.1).take(CASES) {
        let case = Case::from_json(&record.case).unwrap();
        by_agency
            .entry(Population::agency_of(&record))
            .or_default()
            .push((RecordId::new(), case));
    }
    for (code, cases) in &by_agency {
        let agency = AgencyCode::parse(code).unwrap();
        fieldcase_server::service::forms::create_agency(&storage, &agency, code, 0).unwrap();
        storage.bulk_load_cases(&agency, cases).unwrap();
    }
    FaultyStorage::new(Box::new(storage))
}

fn pairs(candidates: &[fieldcase_server::reports::duplicates::Candidate]) -> HashSet<String> {
    candidates
        .iter()
        .filter(|c| c.status == Status::Pending)
        .map(|c| c.id())
        .collect()
}

#[test]
fn a_large_caseloads_first_review_is_a_first_look_until_the_whole_comparison_ends() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(loaded(dir.path()));
    let shared: Arc<dyn Storage> = storage.clone();
    let cache = Arc::new(CandidateCache::default().with_first_look_above(FIRST_LOOK_ABOVE));

    let held = storage.hold_whole_scans();
    let first = cache.review_listing(&shared).unwrap();
    let share = first.first_look.expect("a first look is served");
    assert!(share > 0.0 && share < 0.2, "a slice of the blocks: {share}");
    assert!(first.refreshing, "while the whole comparison runs");
    assert!(first.stats.comparisons > 0, "the slice compared pairs");
    let again = cache.review_listing(&shared).unwrap();
    assert_eq!(
        (again.first_look, pairs(&again.candidates)),
        (first.first_look, pairs(&first.candidates)),
        "a reviewer is served the first look again, not a second one"
    );
    drop(held);

    while cache.is_refreshing() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let whole = cache.review_listing(&shared).unwrap();
    assert_eq!(
        whole.first_look, None,
        "the whole list replaced the first look"
    );
    assert!(!whole.refreshing);
    assert!(
        whole.stats.comparisons > first.stats.comparisons,
        "the whole comparison compared every block: {} against {}",
        whole.stats.comparisons,
        first.stats.comparisons
    );
    let (direct, stats) =
        fieldcase_server::reports::duplicates::review_list(shared.as_ref()).unwrap();
    assert_eq!(pairs(&whole.candidates), pairs(&direct));
    assert_eq!(whole.stats.comparisons, stats.comparisons);
    assert!(
        pairs(&whole.candidates).len() > pairs(&first.candidates).len(),
        "the whole list finds more pairs than a slice"
    );
}

#[test]
fn a_caseload_at_or_under_the_bound_is_compared_whole_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(loaded(dir.path()));
    let shared: Arc<dyn Storage> = storage.clone();
    let cache = Arc::new(CandidateCache::default().with_first_look_above(CASES as u64 * 2));
    let listing = cache.review_listing(&shared).unwrap();
    assert_eq!(listing.first_look, None);
    assert!(!listing.refreshing);
    let (direct, _) = fieldcase_server::reports::duplicates::review_list(shared.as_ref()).unwrap();
    assert_eq!(pairs(&listing.candidates), pairs(&direct));
}
