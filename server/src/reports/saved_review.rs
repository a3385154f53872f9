//! The last long duplicate scan's list, kept between server starts.
//!
//! A scan of a million cases takes most of a minute, so a server that restarted (or a second
//! server process on the same PostgreSQL database) would make the first reviewer wait for a
//! whole one. [`super::duplicates::CandidateCache`] saves the listed pairs of every scan that
//! took [`super::duplicates::FOREGROUND_SCAN_LIMIT`] or more, and a server with no list in
//! memory serves the saved one — marked as the list of its scan's time, with a new scan
//! running — instead of waiting.
//!
//! What is saved: for each listed pair the two record ids, its match probability and its
//! comparison levels (no name, no date, no token: what a reviewer is shown), with the scan's
//! log position, time and statistics. It is kept as a **secret setting**
//! (`StoreTx::put_secret_setting`: sealed under the server key, bound to its key), because
//! which records are probably one person is itself about people. The agency and intake date
//! of each side are read fresh when the list is served, so a purged record's pairs drop out.
//!
//! The format is a fixed little-endian layout ([`FORMAT_VERSION`]); anything else — another
//! version, a length that does not add up, a level no comparison makes — is refused with a
//! [`SavedListError`] and the server scans as if nothing were saved.

use super::comparison::{Vector, FEATURES, LEVELS, MISSING};
use super::duplicates::Stats;
use fieldcase_core::RecordId;

/// The setting the list is kept under.
pub const SETTING_KEY: &str = "duplicates/last-long-scan";

/// Version of the layout below; a saved list of another version is ignored (rescanned).
/// Comparison levels are saved as their numbers (`super::comparison`): a change of the
/// levels of any feature changes the layout's meaning and must raise this version.
/// Version 2: the name level `same_consonants` (names' levels from `very_similar` up moved
/// one up).
/// Version 3: the features `country_of_destination` and `exploitation_types`.
pub const FORMAT_VERSION: u8 = 3;

/// Magic bytes, so a value of another kind under the key is never read as a list.
const MAGIC: &[u8; 4] = b"FCDL";

/// Bytes of the header: magic, version, log end, start time, duration, statistics, count.
const HEADER_BYTES: usize = 4 + 1 + 8 * 3 + STATS_BYTES + 4;
/// Statistics: five counters, two ratios, four phase times.
const STATS_BYTES: usize = 8 * 5 + 8 * 2 + 8 * 4;
/// Bytes per pair: two record ids, the probability, the levels, whether names were crossed.
const PAIR_BYTES: usize = 16 + 16 + 8 + FEATURES + 1;

/// One listed pair as saved.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedPair {
    pub a: RecordId,
    pub b: RecordId,
    pub score: f64,
    pub vector: Vector,
    pub swapped: bool,
}

/// A scan's list as saved.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedList {
    /// The log position the scan saw.
    pub log_end: u64,
    /// When the scan started (milliseconds since the Unix epoch).
    pub started_ms: u64,
    /// How long it took (milliseconds).
    pub took_ms: u64,
    pub stats: Stats,
    pub pairs: Vec<SavedPair>,
}

/// Why a saved list was not read. Names no case.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SavedListError {
    #[error("the saved duplicate list is not one (wrong magic bytes)")]
    NotAList,
    #[error("the saved duplicate list has format version {0}, this server reads {FORMAT_VERSION}")]
    Version(u8),
    #[error("the saved duplicate list is {0} bytes long, which its pair count does not explain")]
    Length(usize),
    #[error("the saved duplicate list holds a value no scan makes")]
    Value,
}

impl SavedList {
    /// The list in the saved layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + PAIR_BYTES * self.pairs.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        for n in [self.log_end, self.started_ms, self.took_ms] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let s = &self.stats;
        for n in [
            s.blocks,
            s.blocks_skipped,
            s.blocks_split,
            s.comparisons,
            s.sampled_profiles,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for x in [s.min_listed_score, s.match_share]
            .into_iter()
            .chain(s.phase_seconds)
        {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let count = u32::try_from(self.pairs.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for p in self.pairs.iter().take(count as usize) {
            out.extend_from_slice(p.a.as_bytes());
            out.extend_from_slice(p.b.as_bytes());
            out.extend_from_slice(&p.score.to_le_bytes());
            out.extend_from_slice(&p.vector);
            out.push(u8::from(p.swapped));
        }
        out
    }

    /// Reads a list saved by [`SavedList::encode`].
    pub fn decode(bytes: &[u8]) -> Result<SavedList, SavedListError> {
        if bytes.len() < MAGIC.len() + 1 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SavedListError::NotAList);
        }
        if bytes[MAGIC.len()] != FORMAT_VERSION {
            return Err(SavedListError::Version(bytes[MAGIC.len()]));
        }
        if bytes.len() < HEADER_BYTES {
            return Err(SavedListError::Length(bytes.len()));
        }
        let mut r = Reader(&bytes[MAGIC.len() + 1..]);
        let (log_end, started_ms, took_ms) = (r.u64(), r.u64(), r.u64());
        let mut stats = Stats {
            blocks: r.u64(),
            blocks_skipped: r.u64(),
            blocks_split: r.u64(),
            comparisons: r.u64(),
            sampled_profiles: r.u64(),
            min_listed_score: r.f64(),
            match_share: r.f64(),
            ..Stats::default()
        };
        for phase in &mut stats.phase_seconds {
            *phase = r.f64();
        }
        let count = r.u32() as usize;
        if r.0.len() != count.checked_mul(PAIR_BYTES).ok_or(SavedListError::Value)? {
            return Err(SavedListError::Length(bytes.len()));
        }
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let a = RecordId::from_bytes(r.array());
            let b = RecordId::from_bytes(r.array());
            let score = r.f64();
            let vector: Vector = r.array();
            let swapped = match r.array::<1>() {
                [0] => false,
                [1] => true,
                _ => return Err(SavedListError::Value),
            };
            let level_known =
                |(f, &l): (usize, &u8)| l == MISSING || (l as usize) < LEVELS[f].len();
            if !(0.0..=1.0).contains(&score) || !vector.iter().enumerate().all(level_known) {
                return Err(SavedListError::Value);
            }
            pairs.push(SavedPair {
                a,
                b,
                score,
                vector,
                swapped,
            });
        }
        Ok(SavedList {
            log_end,
            started_ms,
            took_ms,
            stats,
            pairs,
        })
    }
}

/// Reads fixed-size values off the front of a slice whose length was checked beforehand.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.array())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: usize) -> SavedList {
        SavedList {
            log_end: 41,
            started_ms: 1_790_000_000_000,
            took_ms: 40_700,
            stats: Stats {
                blocks: 9,
                blocks_skipped: 1,
                blocks_split: 2,
                comparisons: 77,
                sampled_profiles: 4000,
                min_listed_score: 0.478,
                match_share: 1.8e-6,
                phase_seconds: [0.3, 34.7, 35.1, 40.6],
            },
            pairs: (0..pairs)
                .map(|i| SavedPair {
                    a: RecordId::new(),
                    b: RecordId::new(),
                    score: 0.5 + i as f64 / 1000.0,
                    vector: [5, 4, 6, MISSING, MISSING, 1, 0, 1, 2],
                    swapped: i % 2 == 0,
                })
                .collect(),
        }
    }

    #[test]
    fn a_list_reads_back_as_saved() {
        for n in [0, 1, 3] {
            let saved = list(n);
            assert_eq!(SavedList::decode(&saved.encode()), Ok(saved));
        }
    }

    #[test]
    fn anything_else_is_refused_not_misread() {
        let good = list(2).encode();
        assert_eq!(SavedList::decode(b""), Err(SavedListError::NotAList));
        assert_eq!(
            SavedList::decode(b"{\"json\":1}"),
            Err(SavedListError::NotAList)
        );
        let mut other_version = good.clone();
        other_version[4] = FORMAT_VERSION + 1;
        assert_eq!(
            SavedList::decode(&other_version),
            Err(SavedListError::Version(FORMAT_VERSION + 1))
        );
        // Cut anywhere, or one byte too many: a length error, never a panic.
        for cut in 5..good.len() {
            assert!(
                matches!(
                    SavedList::decode(&good[..cut]),
                    Err(SavedListError::Length(_))
                ),
                "cut at {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            SavedList::decode(&longer),
            Err(SavedListError::Length(_))
        ));
        // A level no comparison makes, a crossed flag that is no flag, a score above one.
        let pair_at = HEADER_BYTES;
        for (offset, value) in [(pair_at + 40, 9u8), (pair_at + 47, 2), (pair_at + 39, 0x7f)] {
            let mut bad = good.clone();
            bad[offset] = value;
            assert_eq!(
                SavedList::decode(&bad),
                Err(SavedListError::Value),
                "{offset}"
            );
        }
    }
}
