//! Scoring a list of pairs against the planted truth of a population: recall and precision,
//! overall and per kind of drift.

use super::Drift;

/// Recall and precision of a list of pairs against the planted truth, overall and per drift.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scorecard {
    /// Per drift: (true pairs, true pairs listed, listed pairs involving a re-recording of
    /// this drift or its person's first record, of them true).
    pub by_drift: Vec<(Drift, DriftScore)>,
    pub true_pairs: usize,
    pub listed: usize,
    pub listed_true: usize,
}

/// One drift's figures in a [`Scorecard`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DriftScore {
    pub true_pairs: usize,
    pub found: usize,
    /// Listed pairs with a record of this drift's people on either side.
    pub listed: usize,
    pub listed_true: usize,
}

impl DriftScore {
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.true_pairs)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.listed_true, self.listed)
    }
}

impl Scorecard {
    pub fn recall(&self) -> f64 {
        ratio(self.listed_true, self.true_pairs)
    }
    pub fn precision(&self) -> f64 {
        ratio(self.listed_true, self.listed)
    }
    pub fn drift(&self, drift: Drift) -> DriftScore {
        self.by_drift
            .iter()
            .find(|(d, _)| *d == drift)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Scorecard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "overall: recall {:.4} ({}/{}), precision {:.4} ({}/{})",
            self.recall(),
            self.listed_true,
            self.true_pairs,
            self.precision(),
            self.listed_true,
            self.listed
        )?;
        for (d, s) in &self.by_drift {
            writeln!(
                f,
                "  {:34} recall {:.4} ({}/{}), precision {:.4} ({}/{})",
                d.as_str(),
                s.recall(),
                s.found,
                s.true_pairs,
                s.precision(),
                s.listed_true,
                s.listed
            )?;
        }
        Ok(())
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        n as f64 / d as f64
    }
}

/// Scores `listed` pairs of record keys against `records` (key, person, drift).
pub fn score_pairs<K: Ord + Copy>(
    records: &[(K, u64, Option<Drift>)],
    listed: &[(K, K)],
) -> Scorecard {
    use std::collections::{BTreeMap, BTreeSet};
    let person: BTreeMap<K, u64> = records.iter().map(|(k, p, _)| (*k, *p)).collect();
    let drift_of_person: BTreeMap<u64, Drift> = records
        .iter()
        .filter_map(|(_, p, d)| d.map(|d| (*p, d)))
        .collect();
    let mut by_person: BTreeMap<u64, Vec<K>> = BTreeMap::new();
    for (k, p, _) in records {
        by_person.entry(*p).or_default().push(*k);
    }
    let mut card = Scorecard::default();
    let mut scores: BTreeMap<Drift, DriftScore> = Drift::ALL
        .iter()
        .map(|d| (*d, DriftScore::default()))
        .collect();
    for (p, keys) in &by_person {
        let pairs = keys.len() * keys.len().saturating_sub(1) / 2;
        card.true_pairs += pairs;
        if let Some(d) = drift_of_person.get(p) {
            scores.entry(*d).or_default().true_pairs += pairs;
        }
    }
    let listed: BTreeSet<(K, K)> = listed
        .iter()
        .map(|&(a, b)| if a <= b { (a, b) } else { (b, a) })
        .collect();
    for (a, b) in &listed {
        let (pa, pb) = (person.get(a), person.get(b));
        let true_pair = pa.is_some() && pa == pb;
        card.listed += 1;
        card.listed_true += usize::from(true_pair);
        let drifts: BTreeSet<Drift> = [pa, pb]
            .into_iter()
            .flatten()
            .filter_map(|p| drift_of_person.get(p).copied())
            .collect();
        for d in drifts {
            let s = scores.entry(d).or_default();
            s.listed += 1;
            if true_pair {
                s.listed_true += 1;
                s.found += 1;
            }
        }
    }
    card.by_drift = scores.into_iter().collect();
    card
}
