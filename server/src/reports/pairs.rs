//! Every pair of cases sharing a match block, compared exactly once, on every core.
//!
//! The storage scan hands over blocks in key order ([`BlockedCases::collect`] keeps them in
//! memory as lists of case indexes). Two cases often share several blocks (a name pair and a
//! document, or two name passes); the pair is compared only in the **first** block both are
//! in, which a worker tells from the two cases' sorted block lists alone. So no set of the
//! pairs compared so far is shared or kept (at a million cases it held tens of millions of
//! entries), and blocks are compared on several threads with nothing locked: each worker
//! takes runs of blocks from a counter and returns its own tallies, merged at the end.
//!
//! A block of more than [`MAX_BLOCK_RECORDS`] cases (the name pair of a common name within a
//! two-year window, at a million cases) would cost quadratically and says little by itself:
//! it is compared in **sub-blocks** instead, cases grouped by sex and birth year, by
//! nationality and birth year, and by the day and month of birth (unordered) — a twin whose
//! date is cut to the year, whose day and month are off or swapped, or whose year is off by
//! one meets its other record in at least one of them unless it lacks the fields. Sub-blocks
//! still larger, and blocks of more than [`MAX_SCANNED_BLOCK_RECORDS`], are skipped and
//! counted.
//!
//! The result does not depend on the number of threads: every pair is compared once, by a
//! pure function of its two profiles, whichever worker meets it.

use super::comparison::Vector;
use super::matching::{BlockKey, MatchProfile, MAX_BLOCK_RECORDS, MAX_SCANNED_BLOCK_RECORDS};
use crate::storage::BlockMember;
use fieldcase_core::model::codes::Sex;
use fieldcase_core::model::Country;
use fieldcase_core::RecordId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most threads a comparison uses: beyond this the scan's memory bandwidth, not the cores,
/// sets the pace, and a server keeps cores for its requests.
const MAX_THREADS: usize = 8;

/// Blocks a worker takes at a time: large enough that the shared counter is rarely touched,
/// small enough that a few huge runs do not leave other workers idle at the end.
const BLOCKS_PER_TAKE: usize = 256;

/// What compares one pair: given the two cases' indexes (the one with the smaller record id
/// first) and profiles, the pair's comparison vector and what to keep of it, if anything.
pub type Judge<'a, K> =
    dyn Fn(u32, u32, &MatchProfile, &MatchProfile) -> (Vector, Option<K>) + Sync + 'a;

/// The blocks to compare, in memory: each case met in a compared block once (its index is its
/// position in [`BlockedCases::records`]), each block as a list of case indexes.
#[derive(Default)]
pub struct BlockedCases {
    /// Record id of each case, by index.
    pub records: Vec<RecordId>,
    profiles: Vec<Arc<BlockMember>>,
    index: HashMap<RecordId, u32>,
    /// Block `b`'s members are `members[starts[b]..starts[b + 1]]`.
    members: Vec<u32>,
    starts: Vec<usize>,
    /// Case `c`'s blocks, ascending, are `case_blocks[case_starts[c]..case_starts[c + 1]]`;
    /// filled by [`BlockedCases::finish`].
    case_blocks: Vec<u32>,
    case_starts: Vec<usize>,
    /// Blocks (or sub-blocks of an oversized block) too large to compare, skipped.
    pub skipped: u64,
    /// Blocks of more than [`MAX_BLOCK_RECORDS`] cases compared in sub-blocks.
    pub split: u64,
    /// The block being collected, its members so far, and whether it has grown too large.
    open: Option<BlockKey>,
    pending: Vec<Arc<BlockMember>>,
    oversized: bool,
}

impl BlockedCases {
    /// Collects the blocks of a storage scan (members of one block consecutive, blocks in key
    /// order). `first_met` sees each case's profile once, when the case is first kept.
    pub fn collect<E>(
        scan: impl FnOnce(&mut dyn FnMut(&BlockKey, Arc<BlockMember>)) -> Result<(), E>,
        first_met: &mut dyn FnMut(&MatchProfile),
    ) -> Result<BlockedCases, E> {
        let mut blocked = BlockedCases {
            starts: vec![0],
            ..BlockedCases::default()
        };
        scan(&mut |key, member| blocked.push(key, member, first_met))?;
        blocked.close_block(first_met);
        blocked.finish();
        Ok(blocked)
    }

    fn push(
        &mut self,
        key: &BlockKey,
        member: Arc<BlockMember>,
        first_met: &mut dyn FnMut(&MatchProfile),
    ) {
        if self.open.as_ref() != Some(key) {
            self.close_block(first_met);
            self.open = Some(*key);
        }
        if self.oversized {
            return;
        }
        if self.pending.len() >= MAX_SCANNED_BLOCK_RECORDS {
            // Keep nothing more of a block that will be skipped.
            self.oversized = true;
            self.pending.clear();
            return;
        }
        self.pending.push(member);
    }

    fn close_block(&mut self, first_met: &mut dyn FnMut(&MatchProfile)) {
        if self.open.take().is_none() {
            return;
        }
        if std::mem::take(&mut self.oversized) {
            self.skipped += 1;
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        if pending.len() <= MAX_BLOCK_RECORDS {
            self.add_block(pending, first_met);
            return;
        }
        self.split += 1;
        let mut keyed: Vec<(SubKey, usize)> = pending
            .iter()
            .enumerate()
            .flat_map(|(i, m)| sub_keys(&m.profile).map(move |k| (k, i)))
            .collect();
        keyed.sort_unstable();
        for run in keyed.chunk_by(|x, y| x.0 == y.0) {
            if run.len() < 2 {
                continue;
            }
            if run.len() > MAX_BLOCK_RECORDS {
                self.skipped += 1;
                continue;
            }
            self.add_block(run.iter().map(|(_, i)| pending[*i].clone()), first_met);
        }
    }

    /// Adds one block to compare (nothing for fewer than two members).
    fn add_block(
        &mut self,
        members: impl IntoIterator<Item = Arc<BlockMember>>,
        first_met: &mut dyn FnMut(&MatchProfile),
    ) {
        let from = self.members.len();
        for member in members {
            let next = self.records.len() as u32;
            let i = *self.index.entry(member.record).or_insert(next);
            if i == next {
                first_met(&member.profile);
                self.records.push(member.record);
                self.profiles.push(member);
            }
            self.members.push(i);
        }
        if self.members.len() - from < 2 {
            // Its one case, if new, stays met: it may be in another block.
            self.members.truncate(from);
            return;
        }
        self.starts.push(self.members.len());
    }

    /// Builds each case's sorted block list (blocks were added in ascending order) and drops
    /// the lookup by record id.
    fn finish(&mut self) {
        self.index = HashMap::new();
        let mut counts = vec![0usize; self.records.len() + 1];
        for &c in &self.members {
            counts[c as usize + 1] += 1;
        }
        for c in 1..counts.len() {
            counts[c] += counts[c - 1];
        }
        let mut next = counts.clone();
        let mut case_blocks = vec![0; self.members.len()];
        for b in 0..self.blocks() {
            for &c in self.block(b) {
                case_blocks[next[c as usize]] = b as u32;
                next[c as usize] += 1;
            }
        }
        self.case_blocks = case_blocks;
        self.case_starts = counts;
    }

    /// The record ids by case index, dropping the rest (the opened profiles among it).
    pub fn into_records(self) -> Vec<RecordId> {
        self.records
    }

    /// Blocks kept for comparison.
    pub fn blocks(&self) -> usize {
        self.starts.len() - 1
    }

    fn block(&self, b: usize) -> &[u32] {
        &self.members[self.starts[b]..self.starts[b + 1]]
    }

    fn blocks_of(&self, case: u32) -> &[u32] {
        let c = case as usize;
        &self.case_blocks[self.case_starts[c]..self.case_starts[c + 1]]
    }

    /// The first block (in key order) two cases share, if any.
    fn first_shared_block(&self, x: u32, y: u32) -> Option<u32> {
        let (mut xs, mut ys) = (self.blocks_of(x).iter(), self.blocks_of(y).iter());
        let (mut a, mut b) = (xs.next()?, ys.next()?);
        loop {
            match a.cmp(b) {
                std::cmp::Ordering::Equal => return Some(*a),
                std::cmp::Ordering::Less => a = xs.next()?,
                std::cmp::Ordering::Greater => b = ys.next()?,
            }
        }
    }

    /// Compares every pair sharing a block once, with `judge`.
    pub fn compare_pairs<K: Send>(&self, judge: &Judge<K>) -> Compared<K> {
        let threads = worker_threads();
        let taken = AtomicUsize::new(0);
        let work = || {
            let mut out = Compared::default();
            loop {
                let from = taken.fetch_add(BLOCKS_PER_TAKE, Ordering::Relaxed);
                if from >= self.blocks() {
                    return out;
                }
                for b in from..(from + BLOCKS_PER_TAKE).min(self.blocks()) {
                    self.compare_block(b, judge, &mut out);
                }
            }
        };
        if threads == 1 {
            return work();
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
            let mut all = Compared::default();
            for worker in workers {
                // A worker only panics if `judge` does; carry the panic on as it was.
                let part = worker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                all.merge(part);
            }
            all
        })
    }

    fn compare_block<K>(&self, b: usize, judge: &Judge<K>, out: &mut Compared<K>) {
        let members = self.block(b);
        for (i, &x) in members.iter().enumerate() {
            for &y in &members[i + 1..] {
                if x == y || self.first_shared_block(x, y) != Some(b as u32) {
                    continue;
                }
                let (a, c) =
                    if self.records[x as usize].as_bytes() <= self.records[y as usize].as_bytes() {
                        (x, y)
                    } else {
                        (y, x)
                    };
                let (pa, pc) = (&self.profiles[a as usize], &self.profiles[c as usize]);
                let (vector, keep) = judge(a, c, &pa.profile, &pc.profile);
                out.comparisons += 1;
                *out.patterns.entry(vector).or_default() += 1;
                out.kept.extend(keep);
            }
        }
    }
}

/// Threads a computation here uses: one per core, at most [`MAX_THREADS`].
fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS)
}

/// `f` of every item, in order, the items split among the cores' threads.
pub fn on_every_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = worker_threads();
    if threads == 1 || items.len() < 2 * threads {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for part in parts {
            // A part only panics if `f` does; carry the panic on as it was.
            all.extend(part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    })
}

/// A group within an oversized block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SubKey {
    SexYear(Option<Sex>, u16),
    NationalityYear(Country, u16),
    /// Day and month of birth, smaller first (a swapped pair meets).
    DayMonth(u8, u8),
}

/// The sub-blocks a case goes in when its block is oversized: none without a date of birth.
fn sub_keys(p: &MatchProfile) -> impl Iterator<Item = SubKey> {
    let date = p.date_of_birth;
    let year = date.map(|d| d.year());
    let sex_year = year.map(|y| SubKey::SexYear(p.sex, y));
    let nationality_year = year
        .zip(p.nationality)
        .map(|(y, n)| SubKey::NationalityYear(n, y));
    let day_month = date
        .and_then(|d| d.day().zip(d.month()))
        .map(|(d, m)| SubKey::DayMonth(d.min(m), d.max(m)));
    [sex_year, nationality_year, day_month]
        .into_iter()
        .flatten()
}

/// The tallies of a comparison run.
pub struct Compared<K> {
    /// Distinct pairs compared.
    pub comparisons: u64,
    /// How many pairs compared with each vector.
    pub patterns: HashMap<Vector, u64>,
    /// What `judge` kept, in no particular order.
    pub kept: Vec<K>,
}

impl<K> Default for Compared<K> {
    fn default() -> Self {
        Compared {
            comparisons: 0,
            patterns: HashMap::new(),
            kept: Vec::new(),
        }
    }
}

impl<K> Compared<K> {
    fn merge(&mut self, other: Compared<K>) {
        self.comparisons += other.comparisons;
        for (v, n) in other.patterns {
            *self.patterns.entry(v).or_default() += n;
        }
        self.kept.extend(other.kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::model::PartialDate;

    fn id(n: u16) -> RecordId {
        let mut bytes = [0u8; 16];
        bytes[14..].copy_from_slice(&n.to_be_bytes());
        RecordId::from_bytes(bytes)
    }

    fn number(r: RecordId) -> u16 {
        u16::from_be_bytes([r.as_bytes()[14], r.as_bytes()[15]])
    }

    /// Blocks given as lists of case numbers, in key order, with each case's profile.
    fn blocked_with(blocks: &[&[u16]], profile: impl Fn(u16) -> MatchProfile) -> BlockedCases {
        let mut met = 0;
        let scan = |visit: &mut dyn FnMut(&BlockKey, Arc<BlockMember>)| {
            for (k, block) in blocks.iter().enumerate() {
                for &n in *block {
                    let member = BlockMember {
                        record: id(n),
                        profile: profile(n),
                    };
                    visit(&(k as u64).to_be_bytes(), Arc::new(member));
                }
            }
            Ok::<(), std::io::Error>(())
        };
        let b = BlockedCases::collect(scan, &mut |_| met += 1).unwrap();
        assert_eq!(met, b.records.len(), "each case is met once");
        b
    }

    fn blocked(blocks: &[&[u16]]) -> BlockedCases {
        blocked_with(blocks, |_| MatchProfile::default())
    }

    fn pairs_compared(b: &BlockedCases) -> Vec<(u16, u16)> {
        let judge = |x: u32, y: u32, _: &MatchProfile, _: &MatchProfile| {
            let n = |i: u32| number(b.records[i as usize]);
            (
                [0; crate::reports::comparison::FEATURES],
                Some((n(x), n(y))),
            )
        };
        let mut pairs = b.compare_pairs(&judge).kept;
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn a_pair_sharing_several_blocks_is_compared_once() {
        let b = blocked(&[&[1, 2, 3], &[2, 3, 4], &[1, 3], &[5]]);
        assert_eq!(
            pairs_compared(&b),
            vec![(1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]
        );
        assert_eq!(b.blocks(), 3, "a block of one case is not kept");
    }

    #[test]
    fn a_block_too_large_to_scan_is_skipped_and_counted() {
        let big: Vec<u16> = (10..10 + MAX_SCANNED_BLOCK_RECORDS as u16 + 1).collect();
        let b = blocked_with(&[&[1, 2], &big, &[2, 3]], |_| MatchProfile::default());
        assert_eq!((b.skipped, b.split), (1, 0));
        assert_eq!(pairs_compared(&b), vec![(1, 2), (2, 3)]);
        assert!(
            !b.records.iter().any(|r| number(*r) >= 10),
            "no case of the skipped block is kept"
        );
    }

    #[test]
    fn an_oversized_block_is_compared_in_sub_blocks() {
        // 120 cases of one name pair: 1–4 are two people recorded twice (a date cut to the
        // year; day and month swapped with the year off by one), the rest born on other
        // days of other years, all of one nationality, so one sub-block per year.
        let date = |n: u16| match n {
            1 => "1990-05-03",
            2 => "1990",
            3 => "1984-07-11",
            4 => "1985-11-07",
            n => ["1950-01-01", "1951-02-02", "1952-03-03"][n as usize % 3],
        };
        let profile = |n: u16| MatchProfile {
            date_of_birth: Some(PartialDate::parse(date(n)).unwrap()),
            nationality: Some(Country::parse("UKR").unwrap()),
            sex: Some(if n.is_multiple_of(2) {
                Sex::Female
            } else {
                Sex::Male
            }),
            ..MatchProfile::default()
        };
        let block: Vec<u16> = (1..=120).collect();
        let b = blocked_with(&[&block], profile);
        assert_eq!(b.split, 1);
        let pairs = pairs_compared(&b);
        assert!(
            pairs.contains(&(1, 2)),
            "a date cut to the year meets by year"
        );
        assert!(
            pairs.contains(&(3, 4)),
            "swapped day and month meet, year apart"
        );
        assert!(
            !pairs.contains(&(1, 3)),
            "cases of other years and days are not compared"
        );
        // The 116 others: 38 or 39 per date, in sub-blocks of at most MAX_BLOCK_RECORDS.
        assert!(pairs.len() < 3 * 39 * 38, "{} pairs", pairs.len());
        assert_eq!(b.skipped, 0);
    }

    #[test]
    fn every_core_maps_every_item_in_order() {
        for n in [0usize, 1, 3, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let doubled: Vec<usize> = items.iter().map(|x| x * 2).collect();
            assert_eq!(on_every_core(&items, |x| x * 2), doubled);
        }
    }

    #[test]
    fn many_blocks_across_workers_give_every_pair_exactly_once() {
        // Enough blocks for several takes per worker; every pair of 0..40 shares a block.
        let mut blocks: Vec<Vec<u16>> = Vec::new();
        for x in 0..40u16 {
            for y in x + 1..40 {
                blocks.push(vec![x, y]);
                let z = (x + y) % 40;
                if z != x && z != y {
                    blocks.push(vec![x, y, z]);
                }
            }
        }
        let refs: Vec<&[u16]> = blocks.iter().map(Vec::as_slice).collect();
        let b = blocked(&refs);
        let pairs = pairs_compared(&b);
        let expected: Vec<(u16, u16)> = (0..40u16)
            .flat_map(|x| (x + 1..40).map(move |y| (x, y)))
            .collect();
        assert_eq!(pairs, expected);
    }
}
