//! Duplicate finding measured on a population with planted double entries
//! (`fieldcase_core::population`): recall and precision per kind of drift, the time of the
//! first review page (a cold `CandidateCache`: the whole computation a reviewer waits for
//! after new data), and the bytes per case of the matching tables on disk.
//!
//! ```sh
//! LINKAGE_BENCH_CASES=10000,100000 cargo bench -p fieldcase-server --bench linkage
//! ```
//!
//! Above `FIRST_LOOK_ABOVE` cases the first page is a first look at a slice of the blocks
//! (served while the whole comparison runs): its time, precision and recall are printed, and
//! the time until the whole list replaced it.
//!
//! The population is loaded with `SqliteStorage::bulk_load_cases` (the sync's derivation and
//! sealing of facts and match profiles, without the operation log). `LINKAGE_BENCH_DIR` puts
//! the databases elsewhere than the system's temporary directory; `LINKAGE_BENCH_DUPLICATES`
//! sets the share of people recorded twice (default 0.1). `LINKAGE_BENCH_SHOW_ERRORS` also
//! prints the features of wrongly listed pairs and, per drift, how many missed pairs share no
//! block (never compared) and how many were compared but scored under the threshold, and
//! the best any matcher could do on the same fields ([`best_any_matcher_could_do`]).

use fieldcase_core::model::Case;
use fieldcase_core::population::{ceiling, score_pairs, Drift, Indistinct, Population, TARGET};
use fieldcase_core::{AgencyCode, RecordId};
use fieldcase_server::reports::comparison::{
    Comparer, Comparison, Features, Vector, DATE_OF_BIRTH, DOB_EXACT, DOB_SAME_MONTH,
    DOB_SAME_YEAR, DOCUMENT, FAMILY, GIVEN, MISSING, NAME_EXACT, NATIONALITY, PHONE, SEX,
};
use fieldcase_server::reports::duplicates::{CandidateCache, Status};
use fieldcase_server::reports::matching::{BlockKey, MatchProfile, MAX_BLOCK_RECORDS};
use fieldcase_server::seal::Sealer;
use fieldcase_server::storage::sqlite::SqliteStorage;
use fieldcase_server::storage::Storage;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

const KEY: [u8; 32] = [42; 32];
const BATCH: usize = 10_000;

fn open(db: &Path) -> SqliteStorage {
    SqliteStorage::open(db, Sealer::from_key(&KEY)).expect("open the bench database")
}

/// Loads `n` records; returns each record's (id, person, drift).
/// Per record, the block keys its case is filed under and its match profile: kept only with
/// `LINKAGE_BENCH_SHOW_ERRORS`, to tell missed pairs that were never compared from those that
/// scored too low, and to show how the latter compare.
type FiledBlocks = HashMap<RecordId, (HashSet<BlockKey>, Option<MatchProfile>)>;

/// The `i`th record's id: random-looking like a device's, but the same on every run, so a run
/// differs from the last only by the code (the model's sample and every tie follow the ids).
fn record_id(i: usize) -> RecordId {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("linkage bench record {i}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RecordId::from_bytes(bytes)
}

fn populate(
    db: &Path,
    n: usize,
    duplicates: f64,
    filed: &mut Option<FiledBlocks>,
) -> Vec<(RecordId, u64, Option<Drift>)> {
    let storage = open(db);
    let sealer = Sealer::from_key(&KEY);
    let mut agencies: HashMap<&'static str, AgencyCode> = HashMap::new();
    let mut batches: HashMap<&'static str, Vec<(RecordId, Case)>> = HashMap::new();
    let mut truth = Vec::with_capacity(n);
    let flush = |batches: &mut HashMap<&'static str, Vec<(RecordId, Case)>>,
                 agencies: &HashMap<&'static str, AgencyCode>| {
        for (code, batch) in batches.iter_mut() {
            if !batch.is_empty() {
                storage.bulk_load_cases(&agencies[code], batch).unwrap();
                batch.clear();
            }
        }
    };
    for (i, record) in Population::new(12, duplicates).take(n).enumerate() {
        let code = Population::agency_of(&record);
        let agency = agencies.entry(code).or_insert_with(|| {
            let a = AgencyCode::parse(code).unwrap();
            fieldcase_server::service::forms::create_agency(&storage, &a, code, 0).unwrap();
            a
        });
        let _ = agency;
        let case = Case::from_json(&record.case).expect("generated cases are valid");
        let id = record_id(i);
        if let Some(filed) = filed.as_mut() {
            let profile = MatchProfile::of_case(&case, &sealer);
            let blocks = profile
                .as_ref()
                .map(|p| p.blocks(&sealer).into_iter().collect())
                .unwrap_or_default();
            filed.insert(id, (blocks, profile));
        }
        batches.entry(code).or_default().push((id, case));
        truth.push((id, record.person, record.drift));
        if (i + 1) % BATCH == 0 {
            flush(&mut batches, &agencies);
        }
    }
    flush(&mut batches, &agencies);
    storage.close();
    truth
}

/// Bytes on disk of the matching tables: the database vacuumed into a copy, then the copy
/// without `match_blocks` (and its index), then without `match_profiles`.
fn footprint(db: &Path) -> (u64, u64) {
    let copy = db.with_extension("copy.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    drop(conn);
    let size = || std::fs::metadata(&copy).unwrap().len();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let full = size();
    conn.execute_batch("DELETE FROM match_blocks; VACUUM;")
        .unwrap();
    let without_blocks = size();
    conn.execute_batch("DELETE FROM match_profiles; VACUUM;")
        .unwrap();
    let without_profiles = size();
    drop(conn);
    let _ = std::fs::remove_file(&copy);
    (full - without_blocks, without_blocks - without_profiles)
}

/// Whether a comparison vector agrees at the top level on every feature both sides have: names
/// exact (no word contradicting), the date of birth equal at the precision both have, the same
/// nationality and sex, no document or phone held by both (a shared one would be a match, a
/// different one a difference).
fn indistinguishable(v: &Vector) -> bool {
    let top_or_missing = |f: usize, top: &[u8]| v[f] == MISSING || top.contains(&v[f]);
    top_or_missing(GIVEN, &[NAME_EXACT])
        && top_or_missing(FAMILY, &[NAME_EXACT])
        && top_or_missing(DATE_OF_BIRTH, &[DOB_EXACT, DOB_SAME_MONTH, DOB_SAME_YEAR])
        && v[DOCUMENT] == MISSING
        && v[PHONE] == MISSING
        && top_or_missing(NATIONALITY, &[1])
        && top_or_missing(SEX, &[1])
}

/// What a matcher working from the compared fields knows of a pair: its comparison vector,
/// and the [`NameCounts::bands`] of its shared name words.
type GroupKey = (Vector, [u8; 3]);

/// The pairs of one [`GroupKey`]: how many are one person and how many two, the model's
/// errors among them, and the true pairs by drift (in [`Drift::ALL`] order).
#[derive(Default)]
struct Group {
    one_person: usize,
    two_people: usize,
    wrongly_listed: usize,
    missed: usize,
    by_drift: [usize; 7],
}

impl Group {
    /// The model's errors here beyond what listing the whole group or none of it costs.
    fn model_excess(&self) -> i64 {
        (self.wrongly_listed + self.missed) as i64 - self.one_person.min(self.two_people) as i64
    }
}

/// How many cases carry a name word, and a given name's word together with another name's.
struct NameCounts<'a> {
    words: HashMap<&'a str, u32>,
    together: HashMap<(&'a str, &'a str), u32>,
}

impl<'a> NameCounts<'a> {
    fn of(filed: &'a FiledBlocks) -> NameCounts<'a> {
        let mut counts = NameCounts {
            words: HashMap::new(),
            together: HashMap::new(),
        };
        let distinct = |mut words: Vec<&'a str>| {
            words.sort_unstable();
            words.dedup();
            words
        };
        for p in filed.values().filter_map(|(_, profile)| profile.as_ref()) {
            let given = distinct(p.given.tokens().collect());
            let rest = distinct(p.family.tokens().chain(p.other.tokens()).collect());
            for w in distinct(given.iter().chain(&rest).copied().collect()) {
                *counts.words.entry(w).or_default() += 1;
            }
            for g in &given {
                for r in &rest {
                    *counts
                        .together
                        .entry(((*g).min(*r), (*g).max(*r)))
                        .or_default() += 1;
                }
            }
        }
        counts
    }

    /// In doubling bands (0, 1, 2, 3–4, 5–8, …): how many cases carry the shared given word,
    /// the shared family word, and — names both exact — both words besides the two compared
    /// (shifted by one, so 0 says "names not both exact").
    fn bands(&self, c: &Comparison) -> [u8; 3] {
        let band = |n: u32| (32 - n.leading_zeros()) as u8;
        let count = |t: &Option<String>| t.as_deref().map_or(0, |w| band(self.words[w]));
        let others_with_both = match (&c.exact_tokens[GIVEN], &c.exact_tokens[FAMILY]) {
            (Some(g), Some(f)) => {
                let key = (g.as_str().min(f.as_str()), g.as_str().max(f.as_str()));
                let both = self.together.get(&key).copied().unwrap_or(2);
                band(both.saturating_sub(2)) + 1
            }
            _ => 0,
        };
        [
            count(&c.exact_tokens[GIVEN]),
            count(&c.exact_tokens[FAMILY]),
            others_with_both,
        ]
    }
}

/// The pairs (by position in `truth`) sharing a block of at most [`MAX_BLOCK_RECORDS`]
/// cases, and every planted pair wherever it was filed.
fn pairs_to_group(
    filed: &FiledBlocks,
    truth: &[(RecordId, u64, Option<Drift>)],
) -> HashSet<(u32, u32)> {
    let mut pairs: HashSet<(u32, u32)> = HashSet::new();
    let mut add_all = |records: &[u32]| {
        for (k, &a) in records.iter().enumerate() {
            pairs.extend(records[k + 1..].iter().map(|&b| (a.min(b), a.max(b))));
        }
    };
    let mut by_block: HashMap<&BlockKey, Vec<u32>> = HashMap::new();
    let mut of_person: HashMap<u64, Vec<u32>> = HashMap::new();
    for (i, (id, person, _)) in truth.iter().enumerate() {
        for key in &filed[id].0 {
            by_block.entry(key).or_default().push(i as u32);
        }
        of_person.entry(*person).or_default().push(i as u32);
    }
    for records in by_block.values().filter(|r| r.len() <= MAX_BLOCK_RECORDS) {
        add_all(records);
    }
    for records in of_person.values() {
        add_all(records);
    }
    pairs
}

/// The best list any matcher could make from these records' fields, with this blocking: the
/// [`ceiling`] over the pairs of [`pairs_to_group`], grouped by all a matcher can know of a
/// pair ([`GroupKey`]). Also prints the groups where the model (its `listed` pairs) falls
/// furthest short of it.
fn best_any_matcher_could_do(
    filed: &FiledBlocks,
    truth: &[(RecordId, u64, Option<Drift>)],
    listed: &HashSet<(RecordId, RecordId)>,
) {
    let pairs = pairs_to_group(filed, truth);
    let counts = NameCounts::of(filed);
    let drifts: HashMap<RecordId, usize> = truth
        .iter()
        .filter_map(|t| Some((t.0, Drift::ALL.iter().position(|d| Some(*d) == t.2)?)))
        .collect();
    let mut groups: HashMap<GroupKey, Group> = HashMap::new();
    for &(a, b) in &pairs {
        let ((id_a, person_a, _), (id_b, person_b, _)) = (&truth[a as usize], &truth[b as usize]);
        let (Some(x), Some(y)) = (&filed[id_a].1, &filed[id_b].1) else {
            continue;
        };
        let c = Comparer.compare(x, y, &|_| 0.0);
        if !c.is_plausible() {
            continue;
        }
        let group = groups.entry((c.vector, counts.bands(&c))).or_default();
        let is_listed = listed.contains(&(*id_a, *id_b));
        if person_a == person_b {
            group.one_person += 1;
            group.missed += usize::from(!is_listed);
            if let Some(&d) = drifts.get(id_a).or(drifts.get(id_b)) {
                group.by_drift[d] += 1;
            }
        } else {
            group.two_people += 1;
            group.wrongly_listed += usize::from(is_listed);
        }
    }
    let mut short: Vec<(&GroupKey, &Group)> = groups
        .iter()
        .filter(|(_, g)| g.model_excess() > 0)
        .collect();
    short.sort_by_key(|(_, g)| std::cmp::Reverse(g.model_excess()));
    for ((vector, bands), g) in short.into_iter().take(15) {
        let features = Features::of(&Comparison {
            vector: *vector,
            exact_tokens: [None, None],
            swapped: false,
        });
        println!(
            "  short of the best by {}: {} one person, {} two, bands {bands:?} {vector:?}; \
             model {} wrongly listed, {} missed; {}",
            g.model_excess(),
            g.one_person,
            g.two_people,
            g.wrongly_listed,
            g.missed,
            serde_json::to_string(&features).unwrap()
        );
    }
    // Every pair of one person's records, compared or not: a pair no group holds is missed.
    let mut records_of: HashMap<u64, usize> = HashMap::new();
    for (_, person, _) in truth {
        *records_of.entry(*person).or_default() += 1;
    }
    let total_true: usize = records_of.values().map(|n| n * (n - 1) / 2).sum();
    let small: usize = groups
        .values()
        .map(|g| g.one_person + g.two_people)
        .filter(|&n| n < 5)
        .sum();
    let mut groups: Vec<Group> = groups.into_values().collect();
    let best = ceiling(
        &mut groups,
        |g| Indistinct {
            one_person: g.one_person,
            two_people: g.two_people,
        },
        total_true,
    );
    println!(
        "  best any matcher could do on these fields ({} pairs, {small} in groups of under 5): \
         F1 {:.4} at recall {:.4}, precision {:.4}; recall {:.4} at precision ≥ {TARGET}; \
         precision {:.4} at recall ≥ {TARGET}",
        pairs.len(),
        best.f1,
        best.recall,
        best.precision,
        best.recall_at_target_precision,
        best.precision_at_target_recall,
    );
    let mut found_by_drift = [0usize; 7];
    for g in &groups[..best.groups_listed] {
        for (found, d) in found_by_drift.iter_mut().zip(g.by_drift) {
            *found += d;
        }
    }
    let shown: Vec<String> = Drift::ALL
        .iter()
        .zip(found_by_drift)
        .map(|(d, found)| {
            let total = truth.iter().filter(|t| t.2 == Some(*d)).count();
            format!("{} {:.4}", d.as_str(), found as f64 / total.max(1) as f64)
        })
        .collect();
    println!("    its recall by drift at that F1: {}", shown.join(", "));
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let scales: Vec<usize> = std::env::var("LINKAGE_BENCH_CASES")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("LINKAGE_BENCH_CASES: numbers"))
        .collect();
    let duplicates: f64 = std::env::var("LINKAGE_BENCH_DUPLICATES")
        .ok()
        .map(|s| s.parse().expect("LINKAGE_BENCH_DUPLICATES: a share"))
        .unwrap_or(0.1);
    for n in scales {
        let dir = match std::env::var("LINKAGE_BENCH_DIR") {
            Ok(d) => tempfile::tempdir_in(d).unwrap(),
            Err(_) => tempfile::tempdir().unwrap(),
        };
        let db = dir.path().join("bench.db");
        let started = Instant::now();
        let show_errors = std::env::var("LINKAGE_BENCH_SHOW_ERRORS").is_ok();
        let mut filed = show_errors.then(FiledBlocks::new);
        let truth = populate(&db, n, duplicates, &mut filed);
        let load = started.elapsed().as_secs_f64();
        // The first review of a cold server: a whole scan, or above `FIRST_LOOK_ABOVE` cases
        // a first look served while the whole comparison runs in the background.
        let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(open(&db));
        let cache = std::sync::Arc::new(CandidateCache::default());
        let started = Instant::now();
        let first = cache.review_listing(&storage).unwrap();
        let first_page = started.elapsed().as_secs_f64();
        let first_look = first.first_look.map(|share| {
            let listed: Vec<(RecordId, RecordId)> = first
                .candidates
                .iter()
                .map(|c| (c.a.record, c.b.record))
                .collect();
            let card = score_pairs(&truth, &listed);
            while cache.is_refreshing() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (
                share,
                card,
                first.stats.comparisons,
                started.elapsed().as_secs_f64(),
                first.stats.phase_seconds,
            )
        });
        let started = Instant::now();
        let (list, stats) = cache.review_list(storage.as_ref()).unwrap();
        let next_page = started.elapsed().as_secs_f64();
        storage.close();
        drop(storage);
        // A restart: a new process with no list in memory serves the saved one (a scan that
        // took two seconds or more is saved).
        let restarted: std::sync::Arc<dyn Storage> = std::sync::Arc::new(open(&db));
        let saved_bytes = fieldcase_server::storage::read(restarted.as_ref(), |tx| {
            tx.setting(fieldcase_server::reports::saved_review::SETTING_KEY)
        })
        .unwrap()
        .map_or(0, |v| v.len());
        let cache = std::sync::Arc::new(CandidateCache::default());
        let started = Instant::now();
        let after_restart = cache.review_listing(&restarted).unwrap();
        let restart_page = started.elapsed().as_secs_f64();
        assert_eq!(
            after_restart.candidates.len(),
            list.len(),
            "the saved list is the scan's"
        );
        drop(restarted);
        let listed: Vec<(RecordId, RecordId)> = list
            .iter()
            .filter(|c| c.status == Status::Pending)
            .map(|c| (c.a.record, c.b.record))
            .collect();
        let card = score_pairs(&truth, &listed);
        let (blocks, profiles) = footprint(&db);
        println!(
            "{n} records ({} planted duplicate pairs), loaded in {load:.1} s",
            card.true_pairs
        );
        if let Some((share, card, comparisons, whole, phases)) = &first_look {
            println!(
                "  first look at {:.2}% of the blocks: first page {first_page:.2} s, {} pairs \
                 compared, {} listed, precision {:.4}, recall {:.4}; whole list after {whole:.1} s",
                share * 100.0,
                comparisons,
                card.listed,
                card.precision(),
                card.recall()
            );
            println!("  first look's phases (cumulative s): {phases:.2?}");
        }
        let first_page = first_look.as_ref().map_or(first_page, |f| f.3);
        println!(
            "  {} review page {first_page:.2} s, next {next_page:.3} s; {} blocks shared \
             ({} split, {} skipped), {} pairs compared, {} profiles sampled, threshold {}, λ {:.3e}",
            if first_look.is_some() { "whole" } else { "first" },
            stats.blocks,
            stats.blocks_split,
            stats.blocks_skipped,
            stats.comparisons,
            stats.sampled_profiles,
            stats.min_listed_score,
            stats.match_share
        );
        let [sample, scan, fit, described] = stats.phase_seconds;
        println!(
            "  phases (cumulative s): sample and u {sample:.2}, blocks scanned {scan:.2}, \
             model fitted {fit:.2}, pairs described {described:.2}; load average {}",
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        );
        println!(
            "  on disk per case: match_blocks {:.0} B, match_profiles {:.0} B; saved list {} kB",
            blocks as f64 / n as f64,
            profiles as f64 / n as f64,
            saved_bytes / 1000
        );
        println!(
            "  first page after a restart (saved list, {}): {restart_page:.3} s",
            if cache.scans_run() == 0 {
                "no scan"
            } else {
                "scanned: the scan was short"
            }
        );
        print!("{card}");
        if let Some(filed) = &filed {
            // Missed pairs per drift: how many share no block (never compared: a blocking
            // miss) against how many were compared and scored under the threshold.
            let listed_set: HashSet<(RecordId, RecordId)> =
                listed.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
            let mut of_person: HashMap<u64, Vec<(RecordId, Option<Drift>)>> = HashMap::new();
            for (id, person, drift) in &truth {
                of_person.entry(*person).or_default().push((*id, *drift));
            }
            let mut missed: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
            // How the pairs scored too low compare, by drift and pattern.
            let mut low_patterns: HashMap<(&str, String), usize> = HashMap::new();
            for records in of_person.values() {
                let drift = records
                    .iter()
                    .find_map(|r| r.1)
                    .map_or("sibling", Drift::as_str);
                for (i, (a, _)) in records.iter().enumerate() {
                    for (b, _) in &records[i + 1..] {
                        if listed_set.contains(&(*a, *b)) {
                            continue;
                        }
                        let entry = missed.entry(drift).or_default();
                        let ((blocks_a, profile_a), (blocks_b, profile_b)) = (&filed[a], &filed[b]);
                        if blocks_a.is_disjoint(blocks_b) {
                            entry.0 += 1;
                        } else {
                            entry.1 += 1;
                            if let (Some(pa), Some(pb)) = (profile_a, profile_b) {
                                let c = Comparer.compare(pa, pb, &|_| 0.0);
                                let f = serde_json::to_string(&Features::of(&c)).unwrap();
                                *low_patterns.entry((drift, f)).or_default() += 1;
                            }
                        }
                    }
                }
            }
            for (drift, (unblocked, low)) in missed {
                println!("  missed {drift}: {unblocked} share no block, {low} scored too low");
            }
            let mut low_patterns: Vec<_> = low_patterns.into_iter().collect();
            low_patterns.sort_by_key(|p| std::cmp::Reverse(p.1));
            for ((drift, pattern), n) in low_patterns.iter().take(20) {
                println!("  too low ×{n} {drift}: {pattern}");
            }
            best_any_matcher_could_do(filed, &truth, &listed_set);
        }
        if show_errors {
            // The features of wrongly listed pairs, by pattern: what the model mistakes.
            let person: HashMap<RecordId, u64> = truth.iter().map(|t| (t.0, t.1)).collect();
            let mut wrong: HashMap<String, usize> = HashMap::new();
            // Wrongly listed pairs the record's fields cannot tell from one person recorded
            // twice: every feature both have agrees at its top level (names with no word
            // contradicting, the date of birth equal at the precision both have).
            let mut namesakes = 0;
            let profiles = filed.as_ref();
            for c in list.iter().filter(|c| c.status == Status::Pending) {
                if person.get(&c.a.record) != person.get(&c.b.record) {
                    let f = serde_json::to_string(&c.features).unwrap();
                    *wrong.entry(f).or_default() += 1;
                    let profile = |r: &RecordId| profiles.and_then(|p| p[r].1.as_ref());
                    if let (Some(x), Some(y)) = (profile(&c.a.record), profile(&c.b.record)) {
                        if indistinguishable(&Comparer.compare(x, y, &|_| 0.0).vector) {
                            namesakes += 1;
                        }
                    }
                }
            }
            // Calibration: the share of true pairs among the listed, by match probability. A
            // calibrated model lists pairs of probability p that are one person p of the time.
            let mut buckets = [(0usize, 0usize); 10];
            for c in list.iter().filter(|c| c.status == Status::Pending) {
                let Some(score) = c.score else { continue };
                let b = &mut buckets[((score * 10.0) as usize).min(9)];
                b.0 += 1;
                if person.get(&c.a.record) == person.get(&c.b.record) {
                    b.1 += 1;
                }
            }
            let shown: Vec<String> = buckets
                .iter()
                .enumerate()
                .filter(|(_, b)| b.0 > 0)
                .map(|(i, b)| {
                    format!(
                        "{:.1}–{:.1}: {} listed, {:.3} true",
                        i as f64 / 10.0,
                        (i + 1) as f64 / 10.0,
                        b.0,
                        b.1 as f64 / b.0 as f64
                    )
                })
                .collect();
            println!("  calibration: {}", shown.join("; "));
            let wrong_total: usize = wrong.values().sum();
            println!(
                "  wrongly listed: {wrong_total}, of which {namesakes} agree on every feature \
                 both records have (namesakes no field tells apart)"
            );
            let mut wrong: Vec<_> = wrong.into_iter().collect();
            wrong.sort_by_key(|w| std::cmp::Reverse(w.1));
            for (pattern, n) in wrong.iter().take(15) {
                println!("  wrong ×{n}: {pattern}");
            }
        }
    }
}
