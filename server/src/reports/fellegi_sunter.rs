//! The probabilistic record-linkage model that weighs a comparison vector
//! ([`super::comparison`]), in the manner of Fellegi–Sunter as Splink implements it, with its
//! parameters **estimated from the data** on every scan rather than set by hand.
//!
//! # The model
//!
//! For each feature `f` and level `l`: `m[f][l]`, the probability that a *true* duplicate
//! pair shows level `l`, and `u[f][l]`, the probability that a pair of *different* people
//! does. Features are taken as independent given match status, so a pair's match weight is
//! `log2(λ/(1−λ)) + Σ_f log2(m[f][γ_f] / u[f][γ_f])` over the features both sides have
//! (a missing feature adds nothing), where `λ` is the share of true matches among compared
//! pairs; its match probability is `1 / (1 + 2^−weight)`.
//!
//! - **u** from random pairs: [`U_SAMPLE_PROFILES`] profiles spread over the whole caseload
//!   are compared in [`U_RANDOM_PAIRS`] pairs drawn with a fixed seed (almost all of them are
//!   two different people, which is what `u` describes).
//! - **m and λ** by expectation–maximisation over the comparison vectors of the pairs the
//!   blocking passes brought together, with `u` held fixed (as Splink trains them).
//! - Both are smoothed toward documented prior values ([`PRIOR_M`], [`PRIOR_U`]) by a few
//!   pseudo-observations ([`M_PRIOR_PAIRS`], [`U_PRIOR_PAIRS`]), so a caseload of three cases
//!   behaves like the priors and a large one like its data.
//! - **Term frequency**: a name agreeing exactly says more when the name is rare. For the
//!   exact name level, `u` is replaced by the frequency of the shared word among the sampled
//!   profiles (Splink's term-frequency adjustment), floored at half a count. Frequencies are
//!   counts over keyed tokens (HMAC under a key made for this model and dropped with it),
//!   held in memory only.
//! - **Threshold**: the pairs listed are those whose match probability reaches the
//!   threshold that maximises the *expected* F1 score of the list, computed from the match
//!   probabilities of every compared pair (expected true positives among the listed, expected
//!   matches overall); never below [`MIN_LISTED_PROBABILITY`].
//!
//! # What it does not do
//!
//! It does not learn from reviewers' decisions, and it assumes features independent given
//! match status (given and family name agreement are not, a little: weights of pairs agreeing
//! on everything are overconfident, which changes their order among themselves, not whether
//! they are listed).

use super::comparison::{
    Comparer, Comparison, Vector, FAMILY, FEATURES, GIVEN, LEVELS, MAX_LEVELS, MISSING,
    NAME_EXACT,
};
use super::matching::MatchProfile;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sha2::Sha256;
use std::collections::HashMap;

/// Profiles sampled to estimate `u` and term frequencies. Four thousand give about
/// 0.01% resolution on a word's frequency, enough to tell a common name from a rare one.
pub const U_SAMPLE_PROFILES: usize = 4000;
/// Random pairs compared for `u`: enough to see levels with `u` near 10⁻⁴ a few times.
pub const U_RANDOM_PAIRS: usize = 100_000;
/// Seed of the random pairs: the same data gives the same model and the same list.
const U_PAIRS_SEED: u64 = 0x6669_656c_6463_6173;
/// Pseudo-pairs of prior weight in the `u` estimate.
pub const U_PRIOR_PAIRS: f64 = 200.0;
/// Pseudo-matches of prior weight in the `m` estimate: small against the thousands of
/// matches of a real caseload, decisive for a caseload of a handful.
pub const M_PRIOR_PAIRS: f64 = 20.0;
/// Expectation–maximisation stops after this many rounds, or earlier when no parameter moves
/// by more than [`EM_TOLERANCE`].
pub const EM_MAX_ROUNDS: usize = 200;
pub const EM_TOLERANCE: f64 = 1e-7;
/// Prior share of true matches among compared pairs, and its bounds during estimation (a
/// share of exactly 0 or 1 would stop EM from moving).
pub const PRIOR_MATCH_SHARE: f64 = 0.05;
const MATCH_SHARE_BOUNDS: (f64, f64) = (1e-6, 1.0 - 1e-6);
/// Least probability any level keeps, so one unseen level never makes a weight infinite.
const MIN_PROBABILITY: f64 = 1e-6;
/// The least match probability a listed pair may have, whatever the expected-F1 optimum
/// says: with almost no matches among compared pairs the optimum is degenerate and would list
/// a pair the model finds 99 to 1 against.
pub const MIN_LISTED_PROBABILITY: f64 = 0.01;

/// Prior `m` per feature and level (worst level first; see [`LEVELS`]): what a true duplicate
/// recorded by a second agency usually shows.
pub const PRIOR_M: [[f64; MAX_LEVELS]; FEATURES] = [
    [0.03, 0.03, 0.06, 0.08, 0.80],
    [0.03, 0.03, 0.06, 0.08, 0.80],
    [0.03, 0.07, 0.02, 0.18, 0.70],
    [0.30, 0.70, 0.0, 0.0, 0.0],
    [0.30, 0.70, 0.0, 0.0, 0.0],
    [0.10, 0.90, 0.0, 0.0, 0.0],
    [0.05, 0.95, 0.0, 0.0, 0.0],
];

/// Prior `u` per feature and level: what two different people usually show.
pub const PRIOR_U: [[f64; MAX_LEVELS]; FEATURES] = [
    [0.90, 0.05, 0.02, 0.02, 0.01],
    [0.90, 0.05, 0.02, 0.02, 0.01],
    [0.95, 0.03, 0.0005, 0.0195, 0.0005],
    [0.9999, 0.0001, 0.0, 0.0, 0.0],
    [0.9999, 0.0001, 0.0, 0.0, 0.0],
    [0.85, 0.15, 0.0, 0.0, 0.0],
    [0.50, 0.50, 0.0, 0.0, 0.0],
];

type Table = [[f64; MAX_LEVELS]; FEATURES];

/// How often each name word occurs among the sampled profiles, keyed by a token under a key
/// of this model's own: the table never holds a name.
pub struct TermFrequencies {
    key: Hmac<Sha256>,
    counts: HashMap<[u8; 8], u32>,
    profiles: usize,
}

impl TermFrequencies {
    fn new(sample: &[MatchProfile]) -> TermFrequencies {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let key = <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes any key");
        let mut tf = TermFrequencies {
            key,
            counts: HashMap::new(),
            profiles: sample.len(),
        };
        for p in sample {
            let mut seen: Vec<[u8; 8]> = [&p.given, &p.family, &p.other]
                .into_iter()
                .flat_map(|f| f.tokens())
                .map(|t| tf.token(t))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *tf.counts.entry(t).or_default() += 1;
            }
        }
        tf
    }

    fn token(&self, word: &str) -> [u8; 8] {
        let mut mac = self.key.clone();
        mac.update(word.as_bytes());
        let mut out = [0u8; 8];
        out.copy_from_slice(&mac.finalize().into_bytes()[..8]);
        out
    }

    /// Share of profiles carrying the word, at least half a count (an unseen word is rare,
    /// not impossible).
    pub fn frequency(&self, word: &str) -> f64 {
        let n = self.counts.get(&self.token(word)).copied().unwrap_or(0) as f64;
        n.max(0.5) / (self.profiles.max(1) as f64)
    }
}

/// An estimated model (see the module docs).
pub struct Model {
    pub match_share: f64,
    pub m: Table,
    pub u: Table,
    pub tf: TermFrequencies,
    /// Rounds expectation–maximisation ran.
    pub em_rounds: usize,
}

fn smoothed(counts: &[f64; MAX_LEVELS], total: f64, prior: &[f64; MAX_LEVELS], weight: f64, levels: usize) -> [f64; MAX_LEVELS] {
    let mut out = [0.0; MAX_LEVELS];
    for l in 0..levels {
        out[l] = ((counts[l] + weight * prior[l]) / (total + weight)).max(MIN_PROBABILITY);
    }
    out
}

impl Model {
    /// Estimates `u` and term frequencies from a sample of profiles spread over the caseload
    /// (see `Storage::match_profile_sample`); `m` and `λ` start at the priors.
    pub fn from_sample(sample: &[MatchProfile], comparer: &Comparer) -> Model {
        let tf = TermFrequencies::new(sample);
        let mut counts = [[0.0; MAX_LEVELS]; FEATURES];
        let mut totals = [0.0; FEATURES];
        let n = sample.len();
        if n >= 2 {
            let mut rng = StdRng::seed_from_u64(U_PAIRS_SEED);
            let all_pairs = n * (n - 1) / 2;
            let mut count_pair = |a: &MatchProfile, b: &MatchProfile| {
                let c = comparer.compare(a, b, &|_| 0.0);
                for (f, &l) in c.vector.iter().enumerate() {
                    if l != MISSING {
                        counts[f][l as usize] += 1.0;
                        totals[f] += 1.0;
                    }
                }
            };
            if all_pairs <= U_RANDOM_PAIRS {
                for i in 0..n {
                    for j in i + 1..n {
                        count_pair(&sample[i], &sample[j]);
                    }
                }
            } else {
                for _ in 0..U_RANDOM_PAIRS {
                    let i = rng.gen_range(0..n);
                    let mut j = rng.gen_range(0..n - 1);
                    if j >= i {
                        j += 1;
                    }
                    count_pair(&sample[i], &sample[j]);
                }
            }
        }
        let mut u = [[0.0; MAX_LEVELS]; FEATURES];
        let mut m = [[0.0; MAX_LEVELS]; FEATURES];
        for f in 0..FEATURES {
            let levels = LEVELS[f].len();
            u[f] = smoothed(&counts[f], totals[f], &PRIOR_U[f], U_PRIOR_PAIRS, levels);
            m[f] = smoothed(&[0.0; MAX_LEVELS], 0.0, &PRIOR_M[f], 1.0, levels);
        }
        Model {
            match_share: PRIOR_MATCH_SHARE,
            m,
            u,
            tf,
            em_rounds: 0,
        }
    }

    /// Estimates `m` and `λ` by expectation–maximisation over the comparison vectors of the
    /// blocked pairs, counted by distinct vector; `u` stays as sampled.
    pub fn fit(&mut self, patterns: &HashMap<Vector, u64>) {
        let patterns: Vec<(&Vector, f64)> = patterns.iter().map(|(v, &n)| (v, n as f64)).collect();
        let total: f64 = patterns.iter().map(|(_, n)| n).sum();
        if total == 0.0 {
            return;
        }
        for round in 1..=EM_MAX_ROUNDS {
            let mut expected = [[0.0; MAX_LEVELS]; FEATURES];
            let mut expected_present = [0.0; FEATURES];
            let mut matches = 0.0;
            for (vector, n) in &patterns {
                let p = self.probability(self.weight_of(vector, [None, None]));
                let weight = p * n;
                matches += weight;
                for (f, &l) in vector.iter().enumerate() {
                    if l != MISSING {
                        expected[f][l as usize] += weight;
                        expected_present[f] += weight;
                    }
                }
            }
            let share = (matches / total).clamp(MATCH_SHARE_BOUNDS.0, MATCH_SHARE_BOUNDS.1);
            let mut moved = (share - self.match_share).abs();
            self.match_share = share;
            for f in 0..FEATURES {
                let m = smoothed(
                    &expected[f],
                    expected_present[f],
                    &PRIOR_M[f],
                    M_PRIOR_PAIRS,
                    LEVELS[f].len(),
                );
                for l in 0..MAX_LEVELS {
                    moved = moved.max((m[l] - self.m[f][l]).abs());
                }
                self.m[f] = m;
            }
            self.em_rounds = round;
            if moved < EM_TOLERANCE {
                break;
            }
        }
    }

    /// A vector's match weight (log2 odds, prior included). With `frequencies`, an exact name
    /// level uses the shared word's frequency instead of `u` (term-frequency adjustment).
    pub fn weight_of(&self, vector: &Vector, frequencies: [Option<f64>; 2]) -> f64 {
        let mut w = (self.match_share / (1.0 - self.match_share)).log2();
        for (f, &l) in vector.iter().enumerate() {
            if l == MISSING {
                continue;
            }
            let m = self.m[f][l as usize];
            let mut u = self.u[f][l as usize];
            if l == NAME_EXACT && (f == GIVEN || f == FAMILY) {
                if let Some(freq) = frequencies[f] {
                    u = freq.max(MIN_PROBABILITY);
                }
            }
            w += (m / u).log2();
        }
        w
    }

    /// The term frequencies of a comparison's exact name tokens, for [`Model::weight_of`].
    pub fn frequencies(&self, c: &Comparison) -> [Option<f64>; 2] {
        [GIVEN, FAMILY].map(|f| c.exact_tokens[f].as_deref().map(|t| self.tf.frequency(t)))
    }

    /// A comparison's match weight, term frequencies applied.
    pub fn weight(&self, c: &Comparison) -> f64 {
        self.weight_of(&c.vector, self.frequencies(c))
    }

    /// Match probability of a weight.
    pub fn probability(&self, weight: f64) -> f64 {
        1.0 / (1.0 + (-weight).exp2())
    }

    /// How rare a word is for ordering shared words (lower = rarer).
    pub fn rarity(&self, word: &str) -> f64 {
        self.tf.frequency(word)
    }
}

/// The match probability from which pairs are listed: the one that maximises the expected F1
/// score of the list, given every compared pair's match probability (see the module docs).
/// `probabilities` of the pairs kept for listing; `unkept_expected_matches`, the summed
/// probabilities of compared pairs not kept (they count as expected matches missed).
pub fn listing_threshold(probabilities: &mut [f64], unkept_expected_matches: f64) -> f64 {
    probabilities.sort_unstable_by(|x, y| y.total_cmp(x));
    let expected_matches: f64 = probabilities.iter().sum::<f64>() + unkept_expected_matches;
    let mut best = (0.0, 1.0);
    let mut true_positives = 0.0;
    for (k, &p) in probabilities.iter().enumerate() {
        if p < MIN_LISTED_PROBABILITY {
            break;
        }
        true_positives += p;
        let f1 = 2.0 * true_positives / ((k + 1) as f64 + expected_matches);
        if f1 > best.0 {
            best = (f1, p);
        }
    }
    best.1.max(MIN_LISTED_PROBABILITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::comparison::{DATE_OF_BIRTH, NAME_DIFFERENT, SEX};

    fn vector(given: u8, family: u8, dob: u8) -> Vector {
        let mut v = [MISSING; FEATURES];
        v[GIVEN] = given;
        v[FAMILY] = family;
        v[DATE_OF_BIRTH] = dob;
        v[SEX] = 1;
        v
    }

    #[test]
    fn em_recovers_m_and_the_match_share_from_mixed_pairs() {
        let mut model = Model::from_sample(&[], &Comparer::default());
        // 300 matches that mostly agree, 2,700 non-matches that mostly do not.
        let mut patterns = HashMap::new();
        patterns.insert(vector(4, 4, 4), 240);
        patterns.insert(vector(4, 3, 3), 60);
        patterns.insert(vector(4, NAME_DIFFERENT, 0), 1500);
        patterns.insert(vector(NAME_DIFFERENT, 4, 0), 1200);
        model.fit(&patterns);
        assert!((model.match_share - 0.1).abs() < 0.02, "{}", model.match_share);
        assert!(model.m[FAMILY][4] > 0.7, "{:?}", model.m[FAMILY]);
        let strong = model.probability(model.weight_of(&vector(4, 4, 4), [None, None]));
        let weak = model.probability(model.weight_of(&vector(4, 0, 0), [None, None]));
        assert!(strong > 0.99 && weak < 0.01, "{strong} {weak}");
        assert!(model.em_rounds > 1);
    }

    #[test]
    fn a_rare_name_agreeing_weighs_more_than_a_common_one() {
        use crate::seal::Sealer;
        use fieldcase_core::model::Case;
        let profile = |given: &str| {
            let fields = fieldcase_core::model::flatten_json(
                &serde_json::json!({"given_name": given, "family_name": "Okafor"}),
            )
            .unwrap();
            MatchProfile::of_case(&Case::parse_fields(&fields).unwrap(), &Sealer::from_key(&[1; 32]))
                .unwrap()
        };
        let mut sample: Vec<MatchProfile> = (0..50).map(|_| profile("Mohammed")).collect();
        sample.push(profile("Zebulon"));
        let comparer = Comparer::default();
        let model = Model::from_sample(&sample, &comparer);
        let common = comparer.compare(&sample[0], &sample[1], &|w| model.rarity(w));
        let rare = comparer.compare(&sample[50], &sample[50], &|w| model.rarity(w));
        assert!(model.weight(&rare) > model.weight(&common) + 3.0);
    }

    #[test]
    fn the_threshold_follows_the_expected_f1_and_never_lists_the_hopeless() {
        let mut clear = vec![0.99, 0.98, 0.97, 0.6, 0.02, 0.001];
        let t = listing_threshold(&mut clear, 0.0);
        assert!((0.02..=0.6).contains(&t), "{t}");
        assert_eq!(listing_threshold(&mut [0.001], 0.0), MIN_LISTED_PROBABILITY);
        assert_eq!(listing_threshold(&mut [], 0.0), 1.0);
    }
}
