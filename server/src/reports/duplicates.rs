//! The duplicate review list: candidate pairs found on demand by walking the match blocks,
//! with the decisions people took.
//!
//! One computation: (1) a sample of profiles spread over the caseload estimates how often
//! features agree by chance ([`Model::from_sample`]); (2) one sorted scan of the stored
//! blocks compares every pair sharing a block once, on every core ([`Comparer`],
//! `super::pairs`), and counts how common each name word is over the cases it meets (keyed
//! tokens in memory, [`TermFrequencies`]); (3) expectation–maximisation over those
//! comparisons estimates how true duplicates compare ([`Model::fit`]); (4) each pair's match
//! probability is weighed with term frequencies, and pairs at or above the estimated
//! threshold ([`listing_threshold`]) are listed. See `docs/reports.md` for its cost at
//! 100,000 and 1,000,000 cases. Memory holds the opened profiles of the cases in shared
//! blocks (the storage scan opens each once), each case's list of blocks, and the comparison
//! levels of pairs with some name, document or phone agreement; names live only in the
//! opened profiles and are dropped with them. Pairs a person decided are listed with their
//! decision even when they no longer score (a later edit changed a name), so a confirmation
//! never silently disappears from review.
//!
//! The scan costs seconds at a million cases, and a reviewer pages through the list and
//! decides pair after pair: [`CandidateCache`] keeps the candidates of the last scan and
//! reuses them while the operation log has not grown (match profiles change only when an
//! operation is merged); when a long scan is out of date, the last list is served while a new
//! scan runs in the background ([`FOREGROUND_SCAN_LIMIT`]). The list of a long scan is also
//! saved, sealed ([`super::saved_review`]), so after a restart (or in a second server process)
//! the first reviewer is served it at once while a new scan runs. Decisions are read fresh on
//! every request, so a confirmation shows at once.
//!
//! The very first scan of a large caseload has nothing to serve meanwhile (at a million cases
//! it takes over a minute). It starts with a **first look** ([`FIRST_LOOK_ABOVE`]): the same
//! computation over a random slice of the blocks ([`BlockSlice`]: block keys are keyed
//! hashes), sized to cost about what a whole scan of 60,000 cases does. Its pairs are
//! served, marked as a first look, while the whole comparison runs in the background and
//! then replaces them. A first look is never saved.

use super::comparison::{Comparer, Comparison, Features, Vector};
use super::fellegi_sunter::{listing_threshold, Model, TermFrequencies, U_SAMPLE_PROFILES};
use super::matching::{BlockSlice, MatchProfile};
use super::pairs::{on_every_core, BlockedCases};
use super::saved_review::{SavedList, SavedPair, SETTING_KEY};
use crate::storage::{CaseSummary, Storage, StorageError};
use fieldcase_core::model::Date;
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// What review shows of one side of a pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    pub record: RecordId,
    pub agency: AgencyCode,
    pub intake_date: Option<Date>,
}

/// The state of a pair in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Confirmed,
    Rejected,
}

impl Status {
    pub const CODES: [&'static str; 4] = ["pending", "confirmed", "rejected", "all"];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::Rejected => "rejected",
        }
    }
}

/// One pair for review.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub a: Side,
    pub b: Side,
    /// `None` for a decided pair that no longer shares a block or scores.
    pub score: Option<f64>,
    pub features: Option<Features>,
    pub status: Status,
    pub decided_at_ms: Option<u64>,
    pub decided_by: Option<String>,
}

impl Candidate {
    /// The pair's id in URLs: both record ids, smaller first, joined by `~`.
    pub fn id(&self) -> String {
        pair_id(self.a.record, self.b.record)
    }
}

/// The id of a pair (order-insensitive).
pub fn pair_id(x: RecordId, y: RecordId) -> String {
    let (a, b) = ordered(x, y);
    format!("{a}~{b}")
}

/// Parses a pair id; `None` when malformed or the two ids are equal.
pub fn parse_pair_id(text: &str) -> Option<(RecordId, RecordId)> {
    let (a, b) = text.split_once('~')?;
    let a: RecordId = a.parse().ok()?;
    let b: RecordId = b.parse().ok()?;
    (a != b).then(|| ordered(a, b))
}

fn ordered(x: RecordId, y: RecordId) -> (RecordId, RecordId) {
    if x.as_bytes() <= y.as_bytes() {
        (x, y)
    } else {
        (y, x)
    }
}

/// What a computation looked at and estimated, for the reviewer and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Blocks shared by at least two cases: those compared (each sub-block of an oversized
    /// block counted) and those skipped.
    pub blocks: u64,
    /// Blocks, or sub-blocks of an oversized block, larger than `MAX_BLOCK_RECORDS`: not
    /// compared.
    pub blocks_skipped: u64,
    /// Blocks larger than `MAX_BLOCK_RECORDS` compared in sub-blocks (`super::pairs`).
    pub blocks_split: u64,
    /// Distinct pairs compared.
    pub comparisons: u64,
    /// The estimated threshold: the lowest match probability listed.
    pub min_listed_score: f64,
    /// Estimated share of true duplicates among the pairs compared.
    pub match_share: f64,
    /// Profiles in the sample `u` was estimated from.
    pub sampled_profiles: u64,
    /// Seconds from the start of the computation to the end of each phase: the sample and
    /// `u` estimated, the blocks scanned and compared, the model fitted and threshold set,
    /// the listed pairs described. For the benchmark; never shown to a reviewer.
    pub phase_seconds: [f64; 4],
}

fn side_of(s: &CaseSummary) -> Side {
    Side {
        record: s.record,
        agency: s.agency.clone(),
        intake_date: s.intake_date,
    }
}

/// Candidate pairs (undecided status), keyed by their ordered record ids.
type Found = HashMap<(RecordId, RecordId), Candidate>;

/// Every candidate pair and every decided pair, highest score first.
pub fn review_list(storage: &dyn Storage) -> Result<(Vec<Candidate>, Stats), StorageError> {
    let (found, _, stats) = find_candidates(storage, BlockSlice::ALL)?;
    Ok((with_decisions(storage, found)?, stats))
}

/// Scans that took at least this long are not redone on a reviewer's request when the log
/// grows: the last list is served (its decisions read fresh) while a new scan runs in the
/// background. At 100,000 cases a scan takes about 2.4 s on two cores, at 1,000,000 about 40 s,
/// and a central office's log grows with every sync, so without this every page a reviewer
/// opened during the day would wait for a whole scan. Shorter scans are still done on the
/// request, so a small caseload's list is always current.
pub const FOREGROUND_SCAN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Caseloads (cases with a match profile) above which a scan with no list to serve meanwhile
/// starts with a first look at a slice of the blocks: a whole scan of 100,000 cases takes
/// some 3–4 s on two cores.
pub const FIRST_LOOK_ABOVE: u64 = 100_000;

/// A first look compares about as many pairs as a whole scan of this share of
/// [`FIRST_LOOK_ABOVE`] cases. Pairs compared grow as the caseload to the power of about 1.5
/// (1.23 million at 100,000 cases, 41.5 million at 1,000,000), so its slice of a caseload of
/// `n` cases is `(0.6 · FIRST_LOOK_ABOVE / n)^1.5` of the blocks: 1.5% at a million. Its
/// fixed costs (the model's sample, the listed pairs' sides) come on top.
const FIRST_LOOK_COST_SHARE: f64 = 0.6;

/// The growth of pairs compared with the caseload, measured (see [`FIRST_LOOK_ABOVE`]).
const PAIRS_GROWTH_EXPONENT: f64 = 1.5;
/// The candidates of the last scan, kept while the operation log has not grown, and served
/// while a newer scan runs when scans are long ([`FOREGROUND_SCAN_LIMIT`]).
#[derive(Debug)]
pub struct CandidateCache {
    last: Mutex<Option<CachedScan>>,
    /// A background scan is running ([`CandidateCache::refresh_in_background`]).
    refreshing: AtomicBool,
    /// Signalled when a background scan ends, for a request that found no list at all.
    background_done: Condvar,
    /// Scans run so far, in the foreground or the background.
    scans: std::sync::atomic::AtomicU64,
    /// [`FOREGROUND_SCAN_LIMIT`], unless a test sets another.
    foreground_limit: std::time::Duration,
    /// [`FIRST_LOOK_ABOVE`], unless a test sets another.
    first_look_above: u64,
}

impl Default for CandidateCache {
    fn default() -> Self {
        CandidateCache::with_foreground_limit(FOREGROUND_SCAN_LIMIT)
    }
}

#[derive(Clone, Debug)]
struct CachedScan {
    log_end: u64,
    found: Arc<Found>,
    stats: Stats,
    took: std::time::Duration,
    /// When the scan started (milliseconds since the Unix epoch): the list is as of then.
    started_ms: u64,
    /// For a first look, the share of the blocks it compared; `None` for a whole scan.
    first_look: Option<f64>,
}

impl CachedScan {
    /// Compares the blocks of `slice` as the log stood at `log_end`, timed: the scan, and its
    /// listed pairs as they are saved. A slice of less than every block is a first look.
    fn compute(
        storage: &dyn Storage,
        log_end: u64,
        slice: BlockSlice,
    ) -> Result<(CachedScan, Vec<SavedPair>), StorageError> {
        let started = std::time::Instant::now();
        let started_ms = now_ms();
        let (found, listed, stats) = find_candidates(storage, slice)?;
        let scan = CachedScan {
            log_end,
            found: Arc::new(found),
            stats,
            took: started.elapsed(),
            started_ms,
            first_look: (!slice.is_all()).then(|| slice.share_of_keys()),
        };
        Ok((scan, listed))
    }

    /// Whether the list is current at `log_end`: a whole scan of the log as it stands.
    fn is_current(&self, log_end: u64) -> bool {
        self.log_end == log_end && self.first_look.is_none()
    }
}

/// A review list as served: possibly the last scan's while a newer one runs.
#[derive(Clone, Debug)]
pub struct ReviewListing {
    pub candidates: Vec<Candidate>,
    pub stats: Stats,
    /// When the scan the candidates come from started (milliseconds since the Unix epoch).
    pub scanned_at_ms: u64,
    /// A newer scan is running: operations merged since `scanned_at_ms` may add or change
    /// candidates once it ends.
    pub refreshing: bool,
    /// The candidates are a first look: pairs of this share of the blocks, while the whole
    /// comparison runs (`refreshing`).
    pub first_look: Option<f64>,
}

impl CandidateCache {
    /// A cache that serves the last list while rescanning once a scan took `limit`.
    pub fn with_foreground_limit(limit: std::time::Duration) -> CandidateCache {
        CandidateCache {
            last: Mutex::default(),
            refreshing: AtomicBool::new(false),
            background_done: Condvar::new(),
            scans: Default::default(),
            foreground_limit: limit,
            first_look_above: FIRST_LOOK_ABOVE,
        }
    }

    /// The same cache, taking a first look at caseloads above `cases` (tests use small ones).
    pub fn with_first_look_above(mut self, cases: u64) -> CandidateCache {
        self.first_look_above = cases;
        self
    }

    /// Whether a background scan is running.
    pub fn is_refreshing(&self) -> bool {
        self.refreshing.load(Ordering::SeqCst)
    }

    /// How many scans this cache has run.
    pub fn scans_run(&self) -> u64 {
        self.scans.load(Ordering::SeqCst)
    }

    /// As [`review_list`], scanning the blocks again only when the log has grown since the
    /// last scan. Two requests racing on a stale cache may both scan; the result is the same.
    pub fn review_list(
        &self,
        storage: &dyn Storage,
    ) -> Result<(Vec<Candidate>, Stats), StorageError> {
        let log_end = storage.log_end()?;
        let scan = match self.last_scan().filter(|c| c.is_current(log_end)) {
            Some(hit) => hit,
            None => self.scan(storage, log_end)?,
        };
        Ok((with_decisions(storage, (*scan.found).clone())?, scan.stats))
    }

    /// The list for a reviewer's request: as [`CandidateCache::review_list`], except that when
    /// the log has grown and the last scan was long, the last list is served at once and a new
    /// scan starts in the background.
    pub fn review_listing(
        self: &Arc<Self>,
        storage: &Arc<dyn Storage>,
    ) -> Result<ReviewListing, StorageError> {
        let log_end = storage.log_end()?;
        let known = self
            .last_scan_or_running()
            .or_else(|| self.load_saved(storage.as_ref()));
        let scan = match known {
            Some(scan) if scan.is_current(log_end) => scan,
            Some(scan) if scan.first_look.is_some() || scan.took >= self.foreground_limit => {
                self.refresh_in_background(storage.clone());
                scan
            }
            Some(_) => self.scan(storage.as_ref(), log_end)?,
            None if self.first_look_share(storage.as_ref())?.is_some() => {
                // A large caseload never compared: the background job takes a first look
                // before the whole comparison; serve it as soon as it is there.
                self.refresh_in_background(storage.clone());
                match self.last_scan_or_running() {
                    Some(scan) => scan,
                    None => self.scan(storage.as_ref(), log_end)?,
                }
            }
            None => self.scan(storage.as_ref(), log_end)?,
        };
        let refreshing = self.refreshing.load(Ordering::SeqCst);
        // A first look whose whole comparison ended meanwhile is no longer the last list.
        let scan = match scan.first_look {
            Some(_) if !refreshing => self.last_scan().unwrap_or(scan),
            _ => scan,
        };
        Ok(ReviewListing {
            candidates: with_decisions(storage.as_ref(), (*scan.found).clone())?,
            stats: scan.stats,
            scanned_at_ms: scan.started_ms,
            refreshing,
            first_look: scan.first_look,
        })
    }

    /// Starts a scan on a thread of its own unless one is running; its list replaces the
    /// cached one when it ends.
    pub fn refresh_in_background(self: &Arc<Self>, storage: Arc<dyn Storage>) {
        if self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        let cache = self.clone();
        std::thread::spawn(move || {
            // A saved list serves whoever waits while this scan runs (unless it is current,
            // and then there is nothing to scan).
            let saved_log_end = match cache.last_scan() {
                Some(_) => None,
                None => cache.load_saved(storage.as_ref()).map(|s| s.log_end),
            };
            let scanned = storage.log_end().and_then(|log_end| {
                if saved_log_end == Some(log_end) {
                    return Ok(());
                }
                if cache.last_scan().is_none() {
                    if let Some(share) = cache.first_look_share(storage.as_ref())? {
                        cache.first_look(storage.as_ref(), log_end, share)?;
                    }
                }
                cache.scan(storage.as_ref(), log_end).map(drop)
            });
            if let Err(error) = scanned {
                // The next request tries again; the error names no case.
                tracing::warn!(%error, "the background duplicate scan failed");
            }
            // Under the lock, so a request waiting in `last_scan_or_running` cannot miss the
            // wake-up between its check and its wait.
            let _last = cache.last.lock().unwrap_or_else(|e| e.into_inner());
            cache.refreshing.store(false, Ordering::SeqCst);
            cache.background_done.notify_all();
        });
    }

    /// Starts a background scan when there is no list yet: called when someone who reviews
    /// duplicates opens the reports (the dashboard asks for its options first), so that by the
    /// time they open the review a large caseload's list is ready or under way. Not at server
    /// start: a scan of a million cases holds 2.3 GB for 40 s, which a server (or each of
    /// several serving one database) should spend only when someone reviews.
    pub fn warm_up(self: &Arc<Self>, storage: &Arc<dyn Storage>) {
        if self.last_scan().is_none() {
            self.refresh_in_background(storage.clone());
        }
    }

    /// The share of the blocks a first look compares, when the caseload is large enough to
    /// take one ([`FIRST_LOOK_ABOVE`]).
    fn first_look_share(&self, storage: &dyn Storage) -> Result<Option<f64>, StorageError> {
        let cases = storage.match_profile_sample(0)?.cases;
        if cases <= self.first_look_above {
            return Ok(None);
        }
        let like = FIRST_LOOK_COST_SHARE * self.first_look_above as f64;
        let share = (like / cases as f64).powf(PAIRS_GROWTH_EXPONENT);
        Ok(Some(BlockSlice::share(share).share_of_keys()))
    }

    /// Compares a slice of `share` of the blocks and keeps the list as the last scan, unless a
    /// list is there already; wakes whoever waits for one.
    fn first_look(
        &self,
        storage: &dyn Storage,
        log_end: u64,
        share: f64,
    ) -> Result<(), StorageError> {
        let (scan, _) = CachedScan::compute(storage, log_end, BlockSlice::share(share))?;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none() {
            *last = Some(scan);
        }
        self.background_done.notify_all();
        Ok(())
    }

    fn last_scan(&self) -> Option<CachedScan> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The last scan; when there is none but one runs in the background (a warm-up), waits
    /// for it rather than start a second scan of the same data.
    fn last_scan_or_running(&self) -> Option<CachedScan> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        while last.is_none() && self.refreshing.load(Ordering::SeqCst) {
            last = self
                .background_done
                .wait(last)
                .unwrap_or_else(|e| e.into_inner());
        }
        last.clone()
    }

    /// Scans the blocks as the log stood at `log_end` and keeps the result (unless a scan of
    /// a later log was kept meanwhile).
    fn scan(&self, storage: &dyn Storage, log_end: u64) -> Result<CachedScan, StorageError> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        let (scan, listed) = CachedScan::compute(storage, log_end, BlockSlice::ALL)?;
        if scan.took >= self.foreground_limit {
            save(storage, &scan, listed);
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref().is_none_or(|kept| kept.log_end <= log_end) {
            *last = Some(scan.clone());
        }
        Ok(scan)
    }

    /// With no list in memory, the saved list of the last long scan (by this process or
    /// another), kept as the last scan; `None` when there is none or it cannot be read (then
    /// the caller scans).
    fn load_saved(&self, storage: &dyn Storage) -> Option<CachedScan> {
        let loaded = match load(storage) {
            Ok(loaded) => loaded?,
            Err(error) => {
                tracing::warn!(%error, "the saved duplicate list was not read; scanning instead");
                return None;
            }
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none() {
            *last = Some(loaded.clone());
        }
        self.background_done.notify_all();
        last.clone()
    }
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Saves a long scan's listed pairs ([`super::saved_review`]). A failure is logged and
/// otherwise ignored: the list is only a head start for the next process.
fn save(storage: &dyn Storage, scan: &CachedScan, pairs: Vec<SavedPair>) {
    let saved = SavedList {
        log_end: scan.log_end,
        started_ms: scan.started_ms,
        took_ms: u64::try_from(scan.took.as_millis()).unwrap_or(u64::MAX),
        stats: scan.stats.clone(),
        pairs,
    };
    let bytes = saved.encode();
    if let Err(error) =
        crate::storage::write(storage, |tx| tx.put_secret_setting(SETTING_KEY, &bytes))
    {
        tracing::warn!(%error, "the duplicate list was not saved");
    }
}

/// The saved list, with each side's agency and intake date read now (pairs of records that
/// are gone or purged are left out).
fn load(storage: &dyn Storage) -> Result<Option<CachedScan>, StorageError> {
    let Some(bytes) = crate::storage::read(storage, |tx| tx.secret_setting(SETTING_KEY))? else {
        return Ok(None);
    };
    let saved = SavedList::decode(&bytes).map_err(|e| StorageError::Integrity(e.to_string()))?;
    Ok(Some(CachedScan {
        log_end: saved.log_end,
        found: Arc::new(candidates_of(storage, &saved.pairs)?),
        stats: saved.stats,
        took: std::time::Duration::from_millis(saved.took_ms),
        started_ms: saved.started_ms,
        first_look: None,
    }))
}

/// The listed pairs as undecided candidates, each side's agency and intake date read now;
/// pairs with a side that is no longer a case (purged, or never one) are left out.
fn candidates_of(storage: &dyn Storage, listed: &[SavedPair]) -> Result<Found, StorageError> {
    let mut cases: Vec<RecordId> = listed.iter().flat_map(|p| [p.a, p.b]).collect();
    cases.sort_unstable_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    cases.dedup();
    let sides: HashMap<RecordId, Side> = storage
        .case_summaries(&cases)?
        .iter()
        .map(|s| (s.record, side_of(s)))
        .collect();
    let mut found = Found::with_capacity(listed.len());
    for p in listed {
        let (Some(a), Some(b)) = (sides.get(&p.a), sides.get(&p.b)) else {
            continue;
        };
        let comparison = Comparison {
            vector: p.vector,
            exact_tokens: [None, None],
            swapped: p.swapped,
        };
        let candidate = Candidate {
            a: a.clone(),
            b: b.clone(),
            score: Some(p.score),
            features: Some(Features::of(&comparison)),
            status: Status::Pending,
            decided_at_ms: None,
            decided_by: None,
        };
        found.insert((p.a, p.b), candidate);
    }
    Ok(found)
}

/// A compared pair kept for listing: its sides (indexes into the cases blocked) and levels.
struct Compared {
    a: u32,
    b: u32,
    vector: Vector,
    /// Keyed tokens (under the caseload's term-frequency key) of the exact name words shared.
    exact: [Option<[u8; 8]>; 2],
    swapped: bool,
}

/// Walks the match blocks of `slice`, compares every pair within a block once, estimates the
/// model and keeps the pairs it lists: as candidates, and as they are saved.
fn find_candidates(
    storage: &dyn Storage,
    slice: BlockSlice,
) -> Result<(Found, Vec<SavedPair>, Stats), StorageError> {
    let started = std::time::Instant::now();
    let comparer = Comparer;
    let sample = storage.match_profile_sample(U_SAMPLE_PROFILES)?;
    let mut model = Model::from_sample(&sample.profiles, sample.cases, &comparer);
    let mut stats = Stats {
        sampled_profiles: sample.profiles.len() as u64,
        ..Stats::default()
    };
    let cases = sample.cases as usize;
    drop(sample);
    stats.phase_seconds[0] = started.elapsed().as_secs_f64();

    // Name frequencies over the caseload: every case met in a shared block counted once,
    // by keyed token. A case that shares no block is met by no pair, and its words would
    // only lower the counts of names that are rare anyway.
    let mut caseload_tf = TermFrequencies::empty();
    let blocked = BlockedCases::collect(
        |visit| storage.scan_match_blocks(slice, visit),
        &mut |profile| caseload_tf.add(profile),
    )?;
    // A slice meets a share of the cases: words are counted over the cases it met.
    if slice.is_all() {
        caseload_tf.over(cases);
    }
    stats.blocks = blocked.blocks() as u64 + blocked.skipped;
    stats.blocks_skipped = blocked.skipped;
    stats.blocks_split = blocked.split;
    let judge = |a: u32, b: u32, x: &MatchProfile, y: &MatchProfile| {
        let c: Comparison = comparer.compare(x, y, &|w| model.rarity(w));
        let kept = c.is_plausible().then(|| Compared {
            a,
            b,
            vector: c.vector,
            exact: c.exact_tokens.map(|t| t.map(|t| caseload_tf.token(&t))),
            swapped: c.swapped,
        });
        (c.vector, kept)
    };
    let compared = blocked.compare_pairs(&judge);
    let (patterns, kept) = (compared.patterns, compared.kept);
    stats.comparisons = compared.comparisons;
    // The opened profiles go now: only the record ids of the cases are needed from here.
    let records = blocked.into_records();
    stats.phase_seconds[1] = started.elapsed().as_secs_f64();

    model.fit(&patterns);
    let probability = |c: &Compared| {
        let frequencies = c
            .exact
            .map(|t| t.map(|t| caseload_tf.frequency_of_token(&t)));
        // Other cases carrying both exact words: the compared two are counted in the table.
        let pair = match c.exact {
            [Some(given), Some(family)] => {
                Some(caseload_tf.pair_frequency_besides(&given, &family, 2))
            }
            _ => None,
        };
        model.probability(model.weight_with_pair(&c.vector, frequencies, pair))
    };
    // Each kept pair's probability, and as its pattern alone weighs it (to tell how many
    // matches the pairs not kept hold): millions of pairs at a million cases, so on every core.
    let scored: Vec<(f64, f64)> = on_every_core(&kept, |c| {
        let alone = model.probability(model.weight_of(&c.vector, [None, None]));
        (probability(c), alone)
    });
    let kept_probabilities: Vec<f64> = scored.iter().map(|s| s.0).collect();
    // Matches expected among the pairs not kept (no name, document or phone agreement).
    let kept_patterns: f64 = scored.iter().map(|s| s.1).sum();
    drop(scored);
    let all_patterns: f64 = patterns
        .iter()
        .map(|(v, &n)| n as f64 * model.probability(model.weight_of(v, [None, None])))
        .sum();
    let threshold = listing_threshold(
        &mut kept_probabilities.clone(),
        (all_patterns - kept_patterns).max(0.0),
    );
    stats.min_listed_score = round_score(threshold);
    stats.phase_seconds[2] = started.elapsed().as_secs_f64();
    stats.match_share = model.match_share;

    let listed: Vec<(&Compared, f64)> = kept
        .iter()
        .zip(kept_probabilities)
        .filter(|(_, p)| *p >= threshold)
        .collect();
    let listed: Vec<SavedPair> = listed
        .into_iter()
        .map(|(c, p)| SavedPair {
            a: records[c.a as usize],
            b: records[c.b as usize],
            score: round_score(p),
            vector: c.vector,
            swapped: c.swapped,
        })
        .collect();
    let found = candidates_of(storage, &listed)?;
    stats.phase_seconds[3] = started.elapsed().as_secs_f64();
    Ok((found, listed, stats))
}

/// A match probability as shown: three decimals, so the list reads plainly.
fn round_score(p: f64) -> f64 {
    (p * 1000.0).round() / 1000.0
}

/// The candidates with the decisions taken, plus decided pairs that no longer score.
fn with_decisions(storage: &dyn Storage, mut found: Found) -> Result<Vec<Candidate>, StorageError> {
    let decisions = storage.duplicate_decisions()?;
    let missing: Vec<RecordId> = decisions
        .iter()
        .filter(|d| !found.contains_key(&(d.record_a, d.record_b)))
        .flat_map(|d| [d.record_a, d.record_b])
        .collect();
    let summaries: HashMap<RecordId, CaseSummary> = storage
        .case_summaries(&missing)?
        .into_iter()
        .map(|s| (s.record, s))
        .collect();
    for d in decisions {
        let status = if d.confirmed {
            Status::Confirmed
        } else {
            Status::Rejected
        };
        let key = (d.record_a, d.record_b);
        if let Some(c) = found.get_mut(&key) {
            c.status = status;
            c.decided_at_ms = Some(d.decided_at_ms);
            c.decided_by = Some(d.decided_by);
            continue;
        }
        let (Some(a), Some(b)) = (summaries.get(&d.record_a), summaries.get(&d.record_b)) else {
            continue;
        };
        found.insert(
            key,
            Candidate {
                a: side_of(a),
                b: side_of(b),
                score: None,
                features: None,
                status,
                decided_at_ms: Some(d.decided_at_ms),
                decided_by: Some(d.decided_by),
            },
        );
    }
    let mut list: Vec<Candidate> = found.into_values().collect();
    list.sort_by(|x, y| {
        y.score
            .unwrap_or(-1.0)
            .total_cmp(&x.score.unwrap_or(-1.0))
            .then_with(|| x.id().cmp(&y.id()))
    });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_ids_are_order_insensitive_and_strict() {
        let (x, y) = (RecordId::new(), RecordId::new());
        assert_eq!(pair_id(x, y), pair_id(y, x));
        assert_eq!(parse_pair_id(&pair_id(x, y)), Some(ordered(x, y)));
        assert_eq!(parse_pair_id(&format!("{x}~{x}")), None);
        assert_eq!(parse_pair_id("nonsense"), None);
    }
}
