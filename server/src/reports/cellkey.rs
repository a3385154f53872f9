//! The cell-key method: noise on published counts that is the same every time the same people
//! are counted, whatever the request.
//!
//! Every unit a report counts (a case, a service given, a referral, an individual made of
//! linked cases) has a **record key**: 32 pseudo-random bits, fixed for the life of the record
//! and never sent to anyone ([`CellKeys`]: HMAC-SHA256 of the record's kind and id under a
//! secret derived from the server key, so it needs no storage, survives every rebuild of the
//! facts and cannot be guessed without the server key). A cell's key is the sum of the keys
//! of the distinct units in it, modulo 2³² (the "sum mod 1" of the literature, in fixed
//! point). A cell's published value is a deterministic function of its exact count and its
//! cell key through the [`PerturbationTable`]:
//!
//! - the same set of units always gets the same noise, so repeating a request, or asking for
//!   the same cell through another table, scope or count mode, gains nothing;
//! - two cells whose units differ by even one have unrelated keys (one key more is a uniform
//!   shift of the sum), so the difference of two overlapping cells carries the noise of both;
//! - totals are cells of their own (their own units, their own key): margins are close to the
//!   sum of their parts, not equal to it, and a cell with the same units as its total (every
//!   other row zero) publishes the same value as the total.
//!
//! What this does not do: it bounds what any set of requests can learn only as far as the
//! requests differ in their units. An adversary with many *different* requests whose
//! differences all isolate the same few people can average the noise away: that is why public
//! periods come in fixed granularities ([`super::query::check_public_period`]). It does not
//! hide that a published zero is usually a true zero (only usually: see the table).

use crate::seal::Sealer;
use fieldcase_core::RecordId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Label the cell-key secret is derived under from the server key. Stable: changing it
/// changes the noise on every published figure at once (and so hands anyone who kept the old
/// figures a second, independent draw of each).
const CELL_KEY_LABEL: &[u8] = b"fieldcase/cell-key/v1";

/// What a unit is, as its key's domain: the same record id never gives two kinds the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// A case; also an individual (whose key is its smallest linked case's: see
    /// [`super::tally::Individuals`]), so a person recorded once has the same key in counts
    /// of assistance and of individuals.
    Case,
    Service,
    Referral,
}

impl UnitKind {
    fn domain(self) -> &'static [u8] {
        match self {
            UnitKind::Case => b"case",
            UnitKind::Service => b"service",
            UnitKind::Referral => b"referral",
        }
    }
}

/// The key of a unit or a cell: a fraction of one in fixed point (`k / 2³²`). Sums wrap, as
/// the method's sums are modulo one. Its `Debug` does not show the value.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct CellKey(pub(crate) u32);

impl CellKey {
    /// The key of a cell holding `self`'s units and `other`'s (disjoint) units.
    pub fn plus(self, other: CellKey) -> CellKey {
        CellKey(self.0.wrapping_add(other.0))
    }
}

impl std::fmt::Debug for CellKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CellKey(..)")
    }
}

/// Makes record keys: HMAC-SHA256(cell-key secret, kind ‖ 0 ‖ record id), first four bytes.
/// Made from the server key ([`CellKeys::from_sealer`]); cheap to clone (the keyed HMAC state).
#[derive(Clone)]
pub struct CellKeys {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for CellKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CellKeys(..)")
    }
}

impl CellKeys {
    /// The record keys of the server whose key `sealer` holds.
    pub fn from_sealer(sealer: &Sealer) -> CellKeys {
        let secret = sealer.derive_key(CELL_KEY_LABEL);
        CellKeys {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret.as_ref())
                .expect("HMAC takes any key"),
        }
    }

    /// The key of one record.
    pub fn of(&self, kind: UnitKind, record: RecordId) -> CellKey {
        let mut mac = self.mac.clone();
        mac.update(kind.domain());
        mac.update(&[0]);
        mac.update(record.as_bytes());
        let bytes = mac.finalize().into_bytes();
        CellKey(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// How fast the chance of a perturbation falls with its size: each step away from zero is
/// half as likely as the one before. Gives a standard deviation of about 1.6 on large cells
/// (variance 2.52 at the default threshold), enough that the difference of two overlapping
/// cells (variance 5) hides a difference of one to three people, small enough that a cell of
/// 100 is published within ±4 of it.
const DECAY: f64 = 0.5;

/// One row of the table: published offsets from the exact count with their cumulative
/// probabilities in fixed point (the last is 2³²).
#[derive(Clone, Debug, PartialEq)]
struct Row {
    offsets: Vec<(i64, u64)>,
}

impl Row {
    fn from_probabilities(mut outcomes: Vec<(i64, f64)>) -> Row {
        outcomes.retain(|(_, p)| *p > 0.0);
        let total: f64 = outcomes.iter().map(|(_, p)| p).sum();
        let mut cumulative = 0.0;
        let last = outcomes.len().saturating_sub(1);
        let offsets = outcomes
            .iter()
            .enumerate()
            .map(|(i, (offset, p))| {
                cumulative += p / total;
                let bound = if i == last {
                    1u64 << 32
                } else {
                    ((cumulative * 4_294_967_296.0).round() as u64).min(1 << 32)
                };
                (*offset, bound)
            })
            .collect();
        Row { offsets }
    }

    fn offset(&self, key: CellKey) -> i64 {
        let k = u64::from(key.0);
        self.offsets
            .iter()
            .find(|(_, bound)| k < *bound)
            .or(self.offsets.last())
            .map(|(o, _)| *o)
            .unwrap_or(0)
    }

    /// Offsets with their probabilities (for documentation and tests).
    fn distribution(&self) -> Vec<(i64, f64)> {
        let mut previous = 0u64;
        self.offsets
            .iter()
            .map(|(o, bound)| {
                let p = (bound - previous) as f64 / 4_294_967_296.0;
                previous = *bound;
                (*o, p)
            })
            .collect()
    }
}

/// The perturbation table: for an exact count `n` and a cell key, the published count.
///
/// Parameters, for threshold `T` (the server's, default 5) and maximum perturbation
/// `D = max(T − 1, 1)` (4 at the default):
/// - **zero stays zero**: a cell with nobody in it has no key to draw noise from, and a zero
///   singles out no one. A published zero is *not* proof of an empty cell: small counts are
///   published as zero too (next rule), so zeros beside one non-zero row do not make a small
///   total's composition certain;
/// - `1 ≤ n < T`: published `0` with probability `1 − n/T`, `T` with probability `n/T`
///   (unbiased; variance `n(T − n)`, 4 to 6 at `T = 5`). **No published value is in
///   `1..T−1`**, so the small-count rule holds without hiding anything;
/// - `n ≥ T + D`: `n + p`, `p ∈ −D..=D`, `P(p) ∝ 0.5^|p|` ([`DECAY`]): symmetric, unbiased,
///   variance 2.52 and mean absolute perturbation 1.13 at `T = 5`;
/// - `T ≤ n < T + D`: the same shape cut at `T` (never published below the threshold) with
///   the missing mass moved to `T` so the mean stays `n`. `n = T` is published as `T`.
#[derive(Clone, Debug, PartialEq)]
pub struct PerturbationTable {
    threshold: u64,
    max: i64,
    /// Rows for `n = 0 ..= T + D`; larger counts use the last.
    rows: Vec<Row>,
}

impl PerturbationTable {
    /// The table for a threshold (at least 1).
    pub fn new(threshold: u64) -> PerturbationTable {
        let threshold = threshold.max(1);
        let max = (threshold as i64 - 1).max(1);
        let base: Vec<(i64, f64)> = (-max..=max)
            .map(|p| (p, DECAY.powi(p.unsigned_abs() as i32)))
            .collect();
        let t = threshold as i64;
        let rows = (0..=t + max)
            .map(|n| {
                if n == 0 {
                    return Row::from_probabilities(vec![(0, 1.0)]);
                }
                if n < t {
                    let up = n as f64 / t as f64;
                    return Row::from_probabilities(vec![(-n, 1.0 - up), (t - n, up)]);
                }
                // Keep the part at or above T, renormalized; mix with a point at T so the
                // mean is n again.
                let kept: Vec<(i64, f64)> =
                    base.iter().copied().filter(|(p, _)| n + p >= t).collect();
                let mass: f64 = kept.iter().map(|(_, w)| w).sum();
                let mean = n as f64 + kept.iter().map(|(p, w)| *p as f64 * w).sum::<f64>() / mass;
                if mean <= n as f64 + 1e-12 {
                    return Row::from_probabilities(kept);
                }
                let at_threshold = (mean - n as f64) / (mean - t as f64);
                let mut outcomes: Vec<(i64, f64)> = kept
                    .iter()
                    .map(|(p, w)| (*p, w / mass * (1.0 - at_threshold)))
                    .collect();
                match outcomes.iter_mut().find(|(p, _)| n + *p == t) {
                    Some(slot) => slot.1 += at_threshold,
                    None => outcomes.insert(0, (t - n, at_threshold)),
                }
                Row::from_probabilities(outcomes)
            })
            .collect();
        PerturbationTable {
            threshold,
            max,
            rows,
        }
    }

    /// The threshold the table was made for.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The largest perturbation `D` of a published count.
    pub fn max_perturbation(&self) -> u64 {
        self.max as u64
    }

    fn row(&self, n: u64) -> &Row {
        let i = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.rows.len() - 1);
        &self.rows[i]
    }

    /// The published value of a cell of exact count `n` and key `key`.
    pub fn publish(&self, n: u64, key: CellKey) -> u64 {
        let offset = self.row(n).offset(key);
        (n as i64 + offset).max(0) as u64
    }

    /// Every exact count that a published value could come from (for an adversary who knows
    /// this table but not the keys: any key is possible). Counts above `T + 2D` are the
    /// published value give or take `D`.
    pub fn possible_exact(&self, published: u64) -> Vec<u64> {
        let top = published + self.max as u64;
        (0..=top)
            .filter(|n| {
                let row = self.row(*n);
                row.offsets
                    .iter()
                    .any(|(o, _)| (*n as i64 + o).max(0) as u64 == published)
            })
            .collect()
    }

    /// The distribution of the published value of an exact count: `(value, probability)`.
    pub fn distribution(&self, n: u64) -> Vec<(u64, f64)> {
        self.row(n)
            .distribution()
            .into_iter()
            .map(|(o, p)| ((n as i64 + o).max(0) as u64, p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mean_and_variance(d: &[(u64, f64)]) -> (f64, f64) {
        let mean: f64 = d.iter().map(|(v, p)| *v as f64 * p).sum();
        let var = d.iter().map(|(v, p)| (*v as f64 - mean).powi(2) * p).sum();
        (mean, var)
    }

    #[test]
    fn the_default_table_has_the_documented_parameters() {
        let t = PerturbationTable::new(5);
        assert_eq!(t.max_perturbation(), 4);
        assert_eq!(t.distribution(0), vec![(0, 1.0)]);
        for n in 0..200u64 {
            let d = t.distribution(n);
            let total: f64 = d.iter().map(|(_, p)| p).sum();
            assert!((total - 1.0).abs() < 1e-6, "row {n} sums to {total}");
            let (mean, _) = mean_and_variance(&d);
            assert!((mean - n as f64).abs() < 1e-6, "row {n} is biased: {mean}");
            for (v, _) in d {
                assert!(v == 0 || v >= 5, "row {n} publishes {v}");
                assert!(v.abs_diff(n) <= 4, "row {n} moves to {v}");
                if n >= 5 {
                    assert!(v >= 5, "row {n} publishes {v}");
                }
            }
        }
        let (_, var) = mean_and_variance(&t.distribution(100));
        assert!((var - 2.52).abs() < 0.01, "variance of large cells {var}");
        assert_eq!(t.distribution(5), vec![(5, 1.0)]);
        let two = t.distribution(2);
        assert_eq!(two.iter().map(|(v, _)| *v).collect::<Vec<_>>(), vec![0, 5]);
        assert!((two[1].1 - 0.4).abs() < 1e-9, "{two:?}");
    }

    #[test]
    fn keys_are_stable_and_kinds_apart() {
        let keys = CellKeys::from_sealer(&Sealer::from_key(&[3; 32]));
        let other = CellKeys::from_sealer(&Sealer::from_key(&[4; 32]));
        let id = RecordId::new();
        assert_eq!(keys.of(UnitKind::Case, id), keys.of(UnitKind::Case, id));
        assert_ne!(keys.of(UnitKind::Case, id), keys.of(UnitKind::Service, id));
        assert_ne!(keys.of(UnitKind::Case, id), other.of(UnitKind::Case, id));
        assert_eq!(format!("{:?}", keys.of(UnitKind::Case, id)), "CellKey(..)");
    }

    proptest! {
        #[test]
        fn no_threshold_leaks_a_small_count(n in 0u64..1000, key in any::<u32>(), t in 1u64..20) {
            let table = PerturbationTable::new(t);
            let v = table.publish(n, CellKey(key));
            prop_assert!(v == 0 || v >= t);
            prop_assert!(v.abs_diff(n) <= table.max_perturbation());
            if n == 0 {
                prop_assert_eq!(v, 0);
            }
            prop_assert!(table.possible_exact(v).contains(&n));
            prop_assert_eq!(v, table.publish(n, CellKey(key)));
        }
    }
}
