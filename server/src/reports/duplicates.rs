//! The duplicate review list: candidate pairs found on demand by walking the match blocks,
//! with the decisions people took.
//!
//! Candidates are computed from the stored blocks (one sorted scan; see `docs/reports.md` for
//! its cost at 100,000 and 1,000,000 cases). Memory holds one block's members and the pairs
//! that scored at least [`MIN_CANDIDATE_SCORE`], never every case. Pairs a person decided
//! are listed with their decision even when they no longer score (a later edit changed a
//! name), so a confirmation never silently disappears from review.
//!
//! The scan costs seconds at a million cases, and a reviewer pages through the list and
//! decides pair after pair: [`CandidateCache`] keeps the candidates of the last scan and
//! reuses them while the operation log has not grown (match profiles change only when an
//! operation is merged). Decisions are read fresh on every request, so a confirmation shows
//! at once.

use super::matching::{score, Features, Token, MAX_BLOCK_RECORDS, MIN_CANDIDATE_SCORE};
use crate::storage::{BlockMember, CaseSummary, Storage, StorageError};
use fieldcase_core::model::Date;
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// What a computation looked at, for the reviewer and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Blocks shared by at least two cases.
    pub blocks: u64,
    /// Blocks larger than [`MAX_BLOCK_RECORDS`], not compared.
    pub blocks_skipped: u64,
    pub comparisons: u64,
}

fn side(m: &BlockMember) -> Side {
    Side {
        record: m.record,
        agency: m.agency.clone(),
        intake_date: m.intake_date,
    }
}

/// Candidate pairs (undecided status), keyed by their ordered record ids.
type Found = HashMap<(RecordId, RecordId), Candidate>;

/// Every candidate pair and every decided pair, highest score first.
pub fn review_list(storage: &dyn Storage) -> Result<(Vec<Candidate>, Stats), StorageError> {
    let (found, stats) = find_candidates(storage)?;
    Ok((with_decisions(storage, found)?, stats))
}

/// The candidates of the last scan, kept while the operation log has not grown.
#[derive(Debug, Default)]
pub struct CandidateCache {
    last: Mutex<Option<CachedScan>>,
}

#[derive(Debug)]
struct CachedScan {
    log_end: u64,
    found: Arc<Found>,
    stats: Stats,
}

impl CandidateCache {
    /// As [`review_list`], scanning the blocks again only when the log has grown since the
    /// last scan. Two requests racing on a stale cache may both scan; the result is the same.
    pub fn review_list(
        &self,
        storage: &dyn Storage,
    ) -> Result<(Vec<Candidate>, Stats), StorageError> {
        let log_end = storage.log_end()?;
        let cached = {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            last.as_ref()
                .filter(|c| c.log_end == log_end)
                .map(|c| (c.found.clone(), c.stats.clone()))
        };
        let (found, stats) = match cached {
            Some(hit) => hit,
            None => {
                let (found, stats) = find_candidates(storage)?;
                let found = Arc::new(found);
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(CachedScan {
                    log_end,
                    found: found.clone(),
                    stats: stats.clone(),
                });
                (found, stats)
            }
        };
        Ok((with_decisions(storage, (*found).clone())?, stats))
    }
}

/// Walks the match blocks and scores every pair within a block.
fn find_candidates(storage: &dyn Storage) -> Result<(Found, Stats), StorageError> {
    let mut found: HashMap<(RecordId, RecordId), Candidate> = HashMap::new();
    let mut stats = Stats::default();
    let mut block: Option<Token> = None;
    let mut members: Vec<BlockMember> = Vec::new();
    let mut oversized = false;
    let mut flush = |members: &mut Vec<BlockMember>, oversized: bool, stats: &mut Stats| {
        if members.is_empty() {
            return;
        }
        stats.blocks += 1;
        if oversized {
            stats.blocks_skipped += 1;
        } else {
            for (i, x) in members.iter().enumerate() {
                for y in &members[i + 1..] {
                    let key = ordered(x.record, y.record);
                    if found.contains_key(&key) {
                        continue;
                    }
                    stats.comparisons += 1;
                    let (s, features) = score(&x.profile, &y.profile);
                    if s >= MIN_CANDIDATE_SCORE {
                        let (a, b) = if key.0 == x.record { (x, y) } else { (y, x) };
                        found.insert(
                            key,
                            Candidate {
                                a: side(a),
                                b: side(b),
                                score: Some(s),
                                features: Some(features),
                                status: Status::Pending,
                                decided_at_ms: None,
                                decided_by: None,
                            },
                        );
                    }
                }
            }
        }
        members.clear();
    };
    storage.scan_match_blocks(&mut |b, member| {
        if block.as_ref() != Some(b) {
            flush(&mut members, oversized, &mut stats);
            block = Some(*b);
            oversized = false;
        }
        if members.len() >= MAX_BLOCK_RECORDS {
            // Keep nothing more of a block that will be skipped.
            oversized = true;
            return;
        }
        members.push(member);
    })?;
    flush(&mut members, oversized, &mut stats);
    Ok((found, stats))
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
        let to_side = |s: &CaseSummary| Side {
            record: s.record,
            agency: s.agency.clone(),
            intake_date: s.intake_date,
        };
        found.insert(
            key,
            Candidate {
                a: to_side(a),
                b: to_side(b),
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
