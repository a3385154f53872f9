//! The probabilistic record-linkage model that weighs a comparison vector
//! ([`super::comparison`]), in the manner of Fellegi–Sunter as Splink implements it, with its
//! parameters **estimated from the data** on every scan rather than set by hand.
//!
//! # The model
//!
//! For each feature `f` and level `l`: `m[f][l]`, the probability that a *true* duplicate
//! pair shows level `l`, and `u[f][l]`, the probability that a pair of *different* people
//! does. A pair's match weight is `log2(λ/(1−λ)) + Σ_f log2(m[f][γ_f] / u[f][γ_f])` over the
//! features both sides have (a missing feature adds nothing), where `λ` is the probability
//! that two records drawn at random are one person; its match probability is
//! `1 / (1 + 2^−weight)`. Blocking only decides which pairs are weighed: as in Splink, the
//! prior is that of a random pair, so a pair's probability does not depend on how it was
//! found.
//!
//! - **u from random pairs**: [`U_SAMPLE_PROFILES`] profiles spread over the whole caseload
//!   are compared in up to [`U_RANDOM_PAIRS`] pairs drawn with a fixed seed (almost all are
//!   two different people). Names are regional and gendered, so among pairs whose names
//!   agree, agreement on nationality or sex is common and says little more; counting it as
//!   independent evidence would list namesakes. So `u` of the other features (date of birth,
//!   nationality, sex, document, phone, a victim's destination and exploitation types: a
//!   region's people go to a few places) is taken over the random pairs whose given or family
//!   name agrees at least phonetically: `P(names, rest | U) = P(names | U)·P(rest | names, U)`.
//!   For the same reason the family name's `u` is taken over random pairs whose given name
//!   agrees when it does (and a term frequency is scaled by that ratio), and so are `u` of
//!   nationality and sex: a given name says much of a person's region and sex.
//! - **u among namesakes**: a whole name says more still. Two different people with the same
//!   given and family name share a nationality twice as often as two sharing a given name,
//!   and are almost always of one sex; weighed with the given name's `u`, namesakes agreeing
//!   on both were listed with too much confidence. Random pairs almost never share a whole
//!   name, so when both names agree exactly, `u` of nationality, sex and a victim's story
//!   ([`NAMESAKE_FEATURES`]) is estimated over the *compared* pairs whose names agree
//!   exactly, each counted by its probability of being two people, jointly with `λ`
//!   ([`Model::fit`]). Date of birth is not: blocks are cut by birth year, so compared
//!   namesakes are born close together.
//! - **m from the data's confident matches**: pairs sharing a document number or a phone
//!   (near-certain duplicates, found whatever their names) give `m` of names, date of birth,
//!   nationality and sex, each pair weighed by how likely its other features make it one
//!   person (expectation–maximisation over those pairs: two people who happen to hold one
//!   number would otherwise teach the model that duplicates disagree on everything); pairs
//!   agreeing on both names and the full date of birth give `m` of document and phone.
//! - **λ by expectation–maximisation**: the expected number of duplicate pairs among those
//!   compared (the sum of their match probabilities) over the number of all pairs, iterated
//!   to its fixed point.
//! - All are smoothed toward documented prior values ([`PRIOR_M`], [`PRIOR_U`]) by a few
//!   pseudo-observations ([`M_PRIOR_PAIRS`], [`U_PRIOR_PAIRS`]), so a caseload of three cases
//!   behaves like the priors and a large one like its data.
//! - **Term frequency**: a name agreeing exactly says more when the name is rare. For the
//!   exact name level, `u` is replaced by the frequency of the shared word among the sampled
//!   profiles (Splink's term-frequency adjustment), floored at half a count. Frequencies are
//!   counts over keyed tokens (SipHash under a random 128-bit key made for the table and
//!   dropped with it: the table holds no name, and no token outlives the scan), held in
//!   memory only. The sample's table orders shared words during the scan; the frequencies
//!   weighed are counted over the whole caseload as the scan meets its cases
//!   ([`super::duplicates`]). When both names agree exactly, they weigh **together** against
//!   the share of cases carrying both shared words ([`Model::weight_with_pair`]): a given and
//!   a family name go together by region and sex far more than one caseload-wide correction
//!   says, and namesakes with names common together were listed with too much confidence.
//! - **Threshold**: the pairs listed are those whose match probability reaches the
//!   threshold that maximises the *expected* F1 score of the list, computed from the match
//!   probabilities of every compared pair (expected true positives among the listed, expected
//!   matches overall); never below [`MIN_LISTED_PROBABILITY`].
//!
//! # What it does not do
//!
//! It does not learn from reviewers' decisions. It assumes features independent given match
//! status beyond the correction above (given and family name agreement are not, a little:
//! weights of pairs agreeing on everything are overconfident, which changes their order among
//! themselves, not whether they are listed). With no document or phone shared anywhere, `m`
//! stays at the priors.

use super::comparison::{
    Comparer, Comparison, Vector, DATE_OF_BIRTH, DESTINATION, DOB_EXACT, DOCUMENT, EXPLOITATION,
    FAMILY, FEATURES, GIVEN, LEVELS, MAX_LEVELS, MISSING, NAME_EXACT, NAME_EXACT_IN_PART,
    NAME_PHONETIC, NATIONALITY, PHONE, SEX,
};
use super::matching::MatchProfile;
use super::pairs::on_every_core;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Profiles sampled to estimate `u` and term frequencies. Four thousand give about
/// 0.01% resolution on a word's frequency, enough to tell a common name from a rare one.
pub const U_SAMPLE_PROFILES: usize = 4000;
/// Random pairs compared for `u`: enough to see levels with `u` near 10⁻⁴ a few times. (Ten
/// times as many, or four times the profiles, changed recall and precision at 100,000 and
/// 1,000,000 cases by no more than a run's noise, and cost up to a second and a half.)
pub const U_RANDOM_PAIRS: usize = 100_000;
/// Seed of the random pairs: the same data gives the same model and the same list.
const U_PAIRS_SEED: u64 = 0x6669_656c_6463_6173;
/// Pseudo-pairs of prior weight in the `u` estimate.
pub const U_PRIOR_PAIRS: f64 = 200.0;
/// Pseudo-matches of prior weight in the `m` estimate: small against the hundreds of
/// confident matches of a real caseload, decisive for a caseload of a handful.
pub const M_PRIOR_PAIRS: f64 = 20.0;
/// Expectation–maximisation of `λ` stops after this many rounds, or earlier when `λ` moves
/// by less than [`EM_TOLERANCE`] of itself.
pub const EM_MAX_ROUNDS: usize = 100;
pub const EM_TOLERANCE: f64 = 1e-6;
/// Prior number of duplicate pairs per case, where `λ` starts: one case in ten recorded
/// twice, about what the central office sees.
pub const PRIOR_DUPLICATES_PER_CASE: f64 = 0.1;
/// Bounds of `λ` during estimation: above zero, so expectation–maximisation can move it,
/// and at most one pair in two.
const MATCH_SHARE_BOUNDS: (f64, f64) = (1e-12, 0.5);
/// Share of pairs sharing a document or phone taken to be one person before their other
/// features are weighed ([`Model::fit`]): numbers are made to be one person's.
pub const SHARED_IDENTIFIER_PRIOR: f64 = 0.95;
/// Rounds of the weighing of pairs sharing a document or phone: it settles in a handful (the
/// two kinds of pair are far apart).
const SHARED_IDENTIFIER_ROUNDS: usize = 8;
/// Least probability any level keeps, so one unseen level never makes a weight infinite.
const MIN_PROBABILITY: f64 = 1e-6;
/// The least match probability a listed pair may have, whatever the expected-F1 optimum
/// says: with almost no matches among compared pairs the optimum is degenerate and would list
/// a pair the model finds 99 to 1 against.
pub const MIN_LISTED_PROBABILITY: f64 = 0.01;

/// Prior `m` per feature and level (worst level first; see [`LEVELS`]): what a true duplicate
/// recorded by a second agency usually shows. (`same_consonants`: one record in some 25 spells
/// a name in a script without short vowels where the other spells it in Latin letters; a
/// victim's story: a second agency mostly hears the same destination and types, and now and
/// then leaves one out or classifies the exploitation with a type more or less.)
pub const PRIOR_M: [[f64; MAX_LEVELS]; FEATURES] = [
    [0.03, 0.03, 0.04, 0.06, 0.08, 0.02, 0.74, 0.0],
    [0.03, 0.03, 0.04, 0.06, 0.08, 0.04, 0.72, 0.0],
    [0.03, 0.01, 0.02, 0.04, 0.02, 0.12, 0.06, 0.70],
    [0.50, 0.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.30, 0.70, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.10, 0.90, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.05, 0.95, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.08, 0.92, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.05, 0.12, 0.83, 0.0, 0.0, 0.0, 0.0, 0.0],
];

/// Prior `u` per feature and level: what two different people usually show (a full date of
/// birth is one day in some 18,000 of the ages the field sees).
pub const PRIOR_U: [[f64; MAX_LEVELS]; FEATURES] = [
    [0.898, 0.05, 0.002, 0.02, 0.02, 0.002, 0.008, 0.0],
    [0.898, 0.05, 0.002, 0.02, 0.02, 0.004, 0.006, 0.0],
    [0.94, 0.03, 0.0028, 0.0002, 0.00005, 0.025, 0.002, 0.00005],
    [0.9999, 0.0001, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.9999, 0.0001, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.85, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.50, 0.50, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.75, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.55, 0.15, 0.30, 0.0, 0.0, 0.0, 0.0, 0.0],
];

type Table = [[f64; MAX_LEVELS]; FEATURES];

/// The features whose `u` among namesakes is estimated apart ([`Model::u_namesakes`]).
/// Measured at 100,000 generated cases, among different people with the same full name:
/// nationality agrees 0.135 of the time (0.071 among pairs sharing a given name), sex 0.995
/// (0.67), destination 0.25 (0.21).
pub const NAMESAKE_FEATURES: [usize; 4] = [NATIONALITY, SEX, DESTINATION, EXPLOITATION];

/// How often each name word occurs among the sampled profiles, keyed by a token under a key
/// of this model's own: the table never holds a name.
pub struct TermFrequencies {
    key: RandomState,
    counts: HashMap<[u8; 8], u32>,
    /// Profiles carrying both words of a pair (a given name's word with a word of the family
    /// or other names), keyed by [`TermFrequencies::pair_token`].
    pair_counts: HashMap<[u8; 8], u32>,
    profiles: usize,
}

impl TermFrequencies {
    /// An empty table under a fresh key of its own.
    pub fn empty() -> TermFrequencies {
        TermFrequencies {
            key: RandomState::new(),
            counts: HashMap::new(),
            pair_counts: HashMap::new(),
            profiles: 0,
        }
    }

    fn new(sample: &[MatchProfile]) -> TermFrequencies {
        let mut tf = TermFrequencies::empty();
        for p in sample {
            tf.add(p);
        }
        tf
    }

    /// Counts the name words of one more profile (each word once).
    pub fn add(&mut self, p: &MatchProfile) {
        let given: Vec<[u8; 8]> = p.given.tokens().map(|t| self.token(t)).collect();
        let rest: Vec<[u8; 8]> = [&p.family, &p.other]
            .into_iter()
            .flat_map(|f| f.tokens())
            .map(|t| self.token(t))
            .collect();
        let mut seen: Vec<[u8; 8]> = given.iter().chain(&rest).copied().collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *self.counts.entry(t).or_default() += 1;
        }
        let mut pairs: Vec<[u8; 8]> = rest
            .iter()
            .flat_map(|r| given.iter().map(|g| self.pair_token(g, r)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for t in pairs {
            *self.pair_counts.entry(t).or_default() += 1;
        }
        self.profiles += 1;
    }

    /// The token two words' tokens are counted under together, whichever comes first (a
    /// record with given and family name swapped counts under the same one).
    pub fn pair_token(&self, a: &[u8; 8], b: &[u8; 8]) -> [u8; 8] {
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        self.key.hash_one((x, y)).to_le_bytes()
    }

    /// Share of profiles carrying both words (of their tokens: a given name's and another
    /// name's) besides `besides` of them — the two records a pair compares, for
    /// [`Model::weight_with_pair`].
    pub fn pair_frequency_besides(&self, a: &[u8; 8], b: &[u8; 8], besides: u32) -> f64 {
        let n = self
            .pair_counts
            .get(&self.pair_token(a, b))
            .copied()
            .unwrap_or(0);
        f64::from(n.saturating_sub(besides)) / (self.profiles.max(1) as f64)
    }

    /// Frequencies as shares of `profiles` rather than of the profiles counted: for counts
    /// taken over part of a caseload of known size.
    pub fn over(&mut self, profiles: usize) {
        self.profiles = profiles.max(self.profiles);
    }

    /// The keyed token a word is counted under: what a caller keeps instead of the word.
    pub fn token(&self, word: &str) -> [u8; 8] {
        self.key.hash_one(word).to_le_bytes()
    }

    /// Share of profiles carrying the word, at least half a count (an unseen word is rare,
    /// not impossible).
    pub fn frequency(&self, word: &str) -> f64 {
        self.frequency_of_token(&self.token(word))
    }

    /// As [`TermFrequencies::frequency`], of a word's keyed token.
    pub fn frequency_of_token(&self, token: &[u8; 8]) -> f64 {
        let n = self.counts.get(token).copied().unwrap_or(0) as f64;
        n.max(0.5) / (self.profiles.max(1) as f64)
    }
}

/// An estimated model (see the module docs).
pub struct Model {
    /// `λ`: the probability that two records drawn at random are one person.
    pub match_share: f64,
    pub m: Table,
    pub u: Table,
    /// `u` of the family name, nationality and sex among random pairs whose given name agrees
    /// (see the module docs): a given name says much of a person's region and sex, so their
    /// agreement says less than among pairs with only a family name in common. The other
    /// features' rows are `u`'s.
    pub u_given_agrees: Table,
    /// `u` of nationality, sex and a victim's story among *namesakes*: different people whose
    /// given and family names both agree exactly ([`NAMESAKE_FEATURES`]; the other rows are
    /// `u_given_agrees`'s). Two people with one full name come from one region and are of
    /// one sex far more often than two who share only a given name; estimated by
    /// expectation–maximisation over the compared pairs whose names agree ([`Model::fit`]).
    pub u_namesakes: Table,
    pub tf: TermFrequencies,
    /// Cases in the caseload, for the number of all pairs.
    pub cases: u64,
    /// Rounds expectation–maximisation of `λ` ran.
    pub em_rounds: usize,
    /// Confident matches `m` was estimated from.
    pub confident_matches: u64,
}

fn smoothed(
    counts: &[f64; MAX_LEVELS],
    total: f64,
    prior: &[f64; MAX_LEVELS],
    weight: f64,
    levels: usize,
) -> [f64; MAX_LEVELS] {
    let mut out = [0.0; MAX_LEVELS];
    for l in 0..levels {
        out[l] = ((counts[l] + weight * prior[l]) / (total + weight)).max(MIN_PROBABILITY);
    }
    out
}

/// Whether both names agree exactly (a word in common, perhaps with words the other lacks).
fn both_names_exact(v: &Vector) -> bool {
    let exact = |f: usize| v[f] == NAME_EXACT || v[f] == NAME_EXACT_IN_PART;
    exact(GIVEN) && exact(FAMILY)
}

/// Whether a given or family name agrees at least phonetically.
fn names_agree(v: &Vector) -> bool {
    [GIVEN, FAMILY].iter().any(|&f| agrees(v, f))
}

/// Whether a name feature agrees at least phonetically.
fn agrees(v: &Vector, f: usize) -> bool {
    v[f] != MISSING && v[f] >= NAME_PHONETIC
}

fn is_name(f: usize) -> bool {
    f == GIVEN || f == FAMILY
}

/// Level counts of `features` over `pairs` (vector, count).
fn level_counts<'a>(
    pairs: impl Iterator<Item = (&'a Vector, f64)>,
    features: &[usize],
) -> ([[f64; MAX_LEVELS]; FEATURES], [f64; FEATURES]) {
    let mut counts = [[0.0; MAX_LEVELS]; FEATURES];
    let mut totals = [0.0; FEATURES];
    for (v, n) in pairs {
        for &f in features {
            if v[f] != MISSING {
                counts[f][v[f] as usize] += n;
                totals[f] += n;
            }
        }
    }
    (counts, totals)
}

impl Model {
    /// Estimates `u` and term frequencies from a sample of profiles spread over a caseload of
    /// `cases` (see `Storage::match_profile_sample`); `m` starts at the priors and `λ` at
    /// [`PRIOR_DUPLICATES_PER_CASE`].
    pub fn from_sample(sample: &[MatchProfile], cases: u64, comparer: &Comparer) -> Model {
        let tf = TermFrequencies::new(sample);
        let mut vectors: HashMap<Vector, f64> = HashMap::new();
        let n = sample.len();
        if n >= 2 {
            let pairs: Vec<(u32, u32)> = if n * (n - 1) / 2 <= U_RANDOM_PAIRS {
                (0..n as u32)
                    .flat_map(|i| (i + 1..n as u32).map(move |j| (i, j)))
                    .collect()
            } else {
                let mut rng = StdRng::seed_from_u64(U_PAIRS_SEED);
                (0..U_RANDOM_PAIRS)
                    .map(|_| {
                        let i = rng.gen_range(0..n);
                        let mut j = rng.gen_range(0..n - 1);
                        if j >= i {
                            j += 1;
                        }
                        (i as u32, j as u32)
                    })
                    .collect()
            };
            let compared = on_every_core(&pairs, |&(i, j)| {
                comparer
                    .compare(&sample[i as usize], &sample[j as usize], &|_| 0.0)
                    .vector
            });
            for vector in compared {
                *vectors.entry(vector).or_default() += 1.0;
            }
        }
        let names: Vec<usize> = (0..FEATURES).filter(|&f| is_name(f)).collect();
        let rest: Vec<usize> = (0..FEATURES).filter(|&f| !is_name(f)).collect();
        let (name_counts, name_totals) = level_counts(vectors.iter().map(|(v, &n)| (v, n)), &names);
        let (rest_counts, rest_totals) = level_counts(
            vectors
                .iter()
                .filter(|(v, _)| names_agree(v))
                .map(|(v, &n)| (v, n)),
            &rest,
        );
        let (given_counts, given_totals) = level_counts(
            vectors
                .iter()
                .filter(|(v, _)| agrees(v, GIVEN))
                .map(|(v, &n)| (v, n)),
            &[FAMILY, NATIONALITY, SEX],
        );
        let mut u = [[0.0; MAX_LEVELS]; FEATURES];
        let mut m = [[0.0; MAX_LEVELS]; FEATURES];
        for f in 0..FEATURES {
            let levels = LEVELS[f].len();
            let (counts, total) = if is_name(f) {
                (&name_counts[f], name_totals[f])
            } else {
                (&rest_counts[f], rest_totals[f])
            };
            u[f] = smoothed(counts, total, &PRIOR_U[f], U_PRIOR_PAIRS, levels);
            m[f] = smoothed(&[0.0; MAX_LEVELS], 0.0, &PRIOR_M[f], 1.0, levels);
        }
        let mut u_given_agrees = u;
        for f in [FAMILY, NATIONALITY, SEX] {
            u_given_agrees[f] = smoothed(
                &given_counts[f],
                given_totals[f],
                &u[f],
                U_PRIOR_PAIRS,
                LEVELS[f].len(),
            );
        }
        let mut model = Model {
            match_share: 0.0,
            m,
            u,
            u_given_agrees,
            u_namesakes: u_given_agrees,
            tf,
            cases,
            em_rounds: 0,
            confident_matches: 0,
        };
        model.match_share = model.bounded_share(PRIOR_DUPLICATES_PER_CASE * cases as f64);
        model
    }

    /// `λ` for an expected number of duplicate pairs.
    fn bounded_share(&self, expected_pairs: f64) -> f64 {
        let cases = self.cases.max(2) as f64;
        let all_pairs = cases * (cases - 1.0) / 2.0;
        (expected_pairs / all_pairs).clamp(MATCH_SHARE_BOUNDS.0, MATCH_SHARE_BOUNDS.1)
    }

    /// Estimates `m` from the confident matches among the compared pairs, and `λ` with `u`
    /// among namesakes by expectation–maximisation (see the module docs). `patterns` counts
    /// the compared pairs by comparison vector.
    pub fn fit(&mut self, patterns: &HashMap<Vector, u64>) {
        let pairs = || patterns.iter().map(|(v, &n)| (v, n as f64));
        let by_identifier = |v: &Vector| v[DOCUMENT] == 1 || v[PHONE] == 1;
        let by_name = |v: &Vector| {
            v[GIVEN] != MISSING
                && v[GIVEN] >= NAME_PHONETIC
                && v[FAMILY] != MISSING
                && v[FAMILY] >= NAME_PHONETIC
                && v[DATE_OF_BIRTH] == DOB_EXACT
        };
        let described: Vec<usize> = (0..FEATURES)
            .filter(|&f| f != DOCUMENT && f != PHONE)
            .collect();
        let (id_counts, id_totals) =
            level_counts(pairs().filter(|(v, _)| by_name(v)), &[DOCUMENT, PHONE]);
        for f in [DOCUMENT, PHONE] {
            self.m[f] = smoothed(
                &id_counts[f],
                id_totals[f],
                &PRIOR_M[f],
                M_PRIOR_PAIRS,
                LEVELS[f].len(),
            );
        }
        // Pairs sharing a document or phone, described by their other features.
        let shared: Vec<(Vector, f64)> = pairs()
            .filter(|(v, _)| by_identifier(v))
            .map(|(v, n)| {
                let mut rest = *v;
                rest[DOCUMENT] = MISSING;
                rest[PHONE] = MISSING;
                (rest, n)
            })
            .collect();
        self.confident_matches = shared.iter().map(|(_, n)| *n as u64).sum();
        self.fit_m_from_shared_identifiers(&shared, &described);
        for round in 1..=EM_MAX_ROUNDS {
            let probabilities: Vec<(&Vector, f64, f64)> = pairs()
                .map(|(v, n)| (v, n, self.probability(self.weight_of(v, [None, None]))))
                .collect();
            let expected: f64 = probabilities.iter().map(|(_, n, p)| n * p).sum();
            // Namesakes: compared pairs whose names agree exactly, each counted by how likely
            // it is two people. Their date of birth is not taken from here (blocks are cut by
            // birth year, so compared namesakes are born close together); where they come
            // from, their sex and their story do not depend on when they were born.
            let (counts, totals) = level_counts(
                probabilities
                    .iter()
                    .filter(|(v, _, _)| both_names_exact(v))
                    .map(|&(v, n, p)| (v, n * (1.0 - p))),
                &NAMESAKE_FEATURES,
            );
            for f in NAMESAKE_FEATURES {
                self.u_namesakes[f] = smoothed(
                    &counts[f],
                    totals[f],
                    &self.u_given_agrees[f],
                    U_PRIOR_PAIRS,
                    LEVELS[f].len(),
                );
            }
            let share = self.bounded_share(expected);
            let moved = (share - self.match_share).abs() / self.match_share;
            self.match_share = share;
            self.em_rounds = round;
            if moved < EM_TOLERANCE {
                break;
            }
        }
    }

    /// `m` of `described` features from pairs sharing a document or phone (`shared`, those
    /// features only), each weighed by how likely its other features make it one person:
    /// expectation–maximisation over these pairs alone, from [`SHARED_IDENTIFIER_PRIOR`]. Most
    /// are one person recorded twice, but two people can hold the same number (numbers of
    /// different countries' documents, a shared family phone, a typing slip): at a million
    /// cases, generated passport numbers alone make some 500 such pairs beside 9,000 true
    /// ones. Counted at full weight, they taught the model that one person recorded twice
    /// disagrees on name and date one time in twenty, and namesakes born on one day were
    /// listed at 0.6–0.7; weighed, they count for almost nothing.
    fn fit_m_from_shared_identifiers(&mut self, shared: &[(Vector, f64)], described: &[usize]) {
        let mut weights = vec![1.0; shared.len()];
        let mut share = SHARED_IDENTIFIER_PRIOR;
        let prior = (self.match_share / (1.0 - self.match_share)).log2();
        let total: f64 = shared.iter().map(|(_, n)| n).sum();
        for _ in 0..SHARED_IDENTIFIER_ROUNDS {
            let (counts, totals) = level_counts(
                shared.iter().zip(&weights).map(|((v, n), w)| (v, n * w)),
                described,
            );
            for &f in described {
                self.m[f] = smoothed(
                    &counts[f],
                    totals[f],
                    &PRIOR_M[f],
                    M_PRIOR_PAIRS,
                    LEVELS[f].len(),
                );
            }
            let odds = (share / (1.0 - share)).log2();
            for ((v, _), w) in shared.iter().zip(&mut weights) {
                *w = self.probability(odds + self.weight_of(v, [None, None]) - prior);
            }
            if total > 0.0 {
                let expected: f64 = shared.iter().zip(&weights).map(|((_, n), w)| n * w).sum();
                share = (expected / total).clamp(0.01, 0.999);
            }
        }
    }

    /// A vector's match weight (log2 odds, prior included). With `frequencies`, an exact name
    /// level uses the shared word's frequency instead of `u` (term-frequency adjustment).
    pub fn weight_of(&self, vector: &Vector, frequencies: [Option<f64>; 2]) -> f64 {
        self.weight_with_pair(vector, frequencies, None)
    }

    /// As [`Model::weight_of`]; when both names agree exactly, `others_with_both` is the
    /// share of cases *other than the two compared* carrying both shared words. The two names
    /// then weigh together against the larger of it and the product of their own `u`: how
    /// often a given and a family name go together depends on the region and sex they come
    /// from, which one caseload-wide correction (`u_given_agrees`) only averages, so
    /// names common *together* say less than their words apart. The two compared records are
    /// left out of the count: they would make every combination look common in a small
    /// caseload, and a combination no one else carries is as rare as its words say.
    pub fn weight_with_pair(
        &self,
        vector: &Vector,
        frequencies: [Option<f64>; 2],
        others_with_both: Option<f64>,
    ) -> f64 {
        let namesakes = both_names_exact(vector);
        let together =
            others_with_both.filter(|_| namesakes && frequencies.iter().all(Option::is_some));
        let mut w = (self.match_share / (1.0 - self.match_share)).log2();
        let (mut names_m, mut names_u) = (1.0, 1.0);
        let given_agrees = agrees(vector, GIVEN);
        for (f, &l) in vector.iter().enumerate() {
            if l == MISSING {
                continue;
            }
            let level = l as usize;
            let m = self.m[f][level];
            let mut u = self.u[f][level];
            // A family name, nationality or sex agreeing after the given name did is less of a
            // coincidence: they go with the given name's region and sex (other rows are `u`).
            if given_agrees && f != GIVEN {
                u = self.u_given_agrees[f][level];
            }
            // ... and less still after the whole name did.
            if namesakes && NAMESAKE_FEATURES.contains(&f) {
                u = self.u_namesakes[f][level];
            }
            // The same ratio scales a family name's term frequency.
            let dependence = u / self.u[f][level];
            if (l == NAME_EXACT || l == NAME_EXACT_IN_PART) && is_name(f) {
                if let Some(freq) = frequencies[f] {
                    u = freq * dependence.max(1.0);
                }
            }
            let u = u.max(MIN_PROBABILITY);
            if together.is_some() && is_name(f) {
                names_m *= m;
                names_u *= u;
            } else {
                w += (m / u).log2();
            }
        }
        if let Some(others) = together {
            w += (names_m / names_u.max(others)).log2();
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
    use crate::reports::comparison::{DOB_DIFFERENT, DOB_SAME_YEAR, NAME_DIFFERENT};
    const NATIONALITY_SAME: u8 = 1;

    /// `v` with a document shared: a confident match.
    fn with_document(mut v: Vector) -> Vector {
        v[DOCUMENT] = 1;
        v
    }

    fn vector(given: u8, family: u8, dob: u8) -> Vector {
        let mut v = [MISSING; FEATURES];
        v[GIVEN] = given;
        v[FAMILY] = family;
        v[DATE_OF_BIRTH] = dob;
        v[SEX] = 1;
        v
    }

    #[test]
    fn m_comes_from_confident_matches_and_lambda_from_em() {
        let mut model = Model::from_sample(&[], 10_000, &Comparer);
        let mut patterns = HashMap::new();
        // 200 pairs sharing a document: their names and dates describe true duplicates.
        patterns.insert(
            with_document(vector(NAME_EXACT, NAME_EXACT, DOB_EXACT)),
            150,
        );
        patterns.insert(
            with_document(vector(NAME_PHONETIC, NAME_EXACT, DOB_SAME_YEAR)),
            50,
        );
        // 800 more that look the same without a document, 5,000 namesakes.
        patterns.insert(vector(NAME_EXACT, NAME_EXACT, DOB_EXACT), 600);
        patterns.insert(vector(NAME_PHONETIC, NAME_EXACT, DOB_SAME_YEAR), 200);
        patterns.insert(vector(NAME_EXACT, NAME_EXACT, DOB_DIFFERENT), 5000);
        model.fit(&patterns);
        assert_eq!(model.confident_matches, 200);
        assert!(
            model.m[GIVEN][NAME_PHONETIC as usize] > 0.2 && model.m[DATE_OF_BIRTH][0] < 0.01,
            "{:?}",
            model.m
        );
        let expected_pairs = model.match_share * 10_000.0 * 9_999.0 / 2.0;
        assert!(
            (850.0..1100.0).contains(&expected_pairs),
            "{expected_pairs}"
        );
        let strong = model
            .probability(model.weight_of(&vector(NAME_EXACT, NAME_EXACT, DOB_EXACT), [None, None]));
        let namesake = model.probability(
            model.weight_of(&vector(NAME_EXACT, NAME_EXACT, DOB_DIFFERENT), [None, None]),
        );
        assert!(strong > 0.99 && namesake < 0.01, "{strong} {namesake}");
        assert!(model.em_rounds > 1);
    }

    #[test]
    fn namesakes_agreeing_on_nationality_and_sex_say_less_than_a_given_name_alone_makes_it_seem() {
        let with = |mut v: Vector, nationality: u8| {
            v[NATIONALITY] = nationality;
            v
        };
        let fitted = |namesakes_same_nationality: u64| {
            let mut model = Model::from_sample(&[], 10_000, &Comparer);
            let mut patterns = HashMap::new();
            patterns.insert(
                with_document(with(vector(NAME_EXACT, NAME_EXACT, DOB_EXACT), 1)),
                200,
            );
            patterns.insert(with(vector(NAME_EXACT, NAME_EXACT, DOB_EXACT), 1), 800);
            // 4,000 namesakes, born on other days: how often do they share a nationality?
            let namesake = vector(NAME_EXACT, NAME_EXACT, DOB_DIFFERENT);
            patterns.insert(with(namesake, 1), namesakes_same_nationality);
            patterns.insert(with(namesake, 0), 4000 - namesakes_same_nationality);
            model.fit(&patterns);
            model
        };
        let (often, seldom) = (fitted(3600), fitted(400));
        let same = NATIONALITY_SAME as usize;
        assert!(
            (0.8..0.95).contains(&often.u_namesakes[NATIONALITY][same])
                && (0.08..0.2).contains(&seldom.u_namesakes[NATIONALITY][same]),
            "{} {}",
            often.u_namesakes[NATIONALITY][same],
            seldom.u_namesakes[NATIONALITY][same]
        );
        // Sex agrees in every vector here: among namesakes it is estimated above the given
        // name's `u` it is smoothed toward.
        assert!(often.u_namesakes[SEX][1] > often.u_given_agrees[SEX][1]);
        // A pair of namesakes born the same year, one date known to the year only, both of
        // one nationality: where namesakes mostly share one, that agreement says little.
        let pair = with(vector(NAME_EXACT, NAME_EXACT, DOB_SAME_YEAR), 1);
        let weight = |m: &Model| m.weight_of(&pair, [None, None]);
        assert!(weight(&often) < weight(&seldom) - 2.0);
        // What nationality adds: `u` among namesakes with both names exact, the given
        // name's `u` without.
        let added = |v: Vector| {
            let unknown = with(v, MISSING);
            often.weight_of(&with(v, 1), [None, None]) - often.weight_of(&unknown, [None, None])
        };
        let m = often.m[NATIONALITY][same];
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        assert!(close(
            added(pair),
            (m / often.u_namesakes[NATIONALITY][same]).log2()
        ));
        let apart = vector(NAME_EXACT, NAME_PHONETIC, DOB_SAME_YEAR);
        assert!(close(
            added(apart),
            (m / often.u_given_agrees[NATIONALITY][same]).log2()
        ));
    }

    #[test]
    fn two_people_sharing_a_number_do_not_teach_m_that_duplicates_disagree() {
        let fitted = |strangers: u64| {
            let mut model = Model::from_sample(&[], 1_000_000, &Comparer);
            let mut patterns = HashMap::new();
            patterns.insert(
                with_document(vector(NAME_EXACT, NAME_EXACT, DOB_EXACT)),
                8000,
            );
            patterns.insert(
                with_document(vector(NAME_PHONETIC, NAME_EXACT, DOB_SAME_YEAR)),
                1000,
            );
            // Two people holding one passport number: nothing else agrees.
            patterns.insert(
                with_document(vector(NAME_DIFFERENT, NAME_DIFFERENT, DOB_DIFFERENT)),
                strangers,
            );
            model.fit(&patterns);
            model
        };
        let (clean, mixed) = (fitted(0), fitted(500));
        assert_eq!(mixed.confident_matches, 9500);
        for f in [GIVEN, FAMILY, DATE_OF_BIRTH] {
            assert!(
                mixed.m[f][0] < 2.0 * clean.m[f][0] + 1e-3,
                "{f}: {} against {}",
                mixed.m[f][0],
                clean.m[f][0]
            );
        }
        // ...while a true duplicate with one name unlike still counts: the phonetic pairs
        // above keep their share of m.
        assert!(mixed.m[GIVEN][NAME_PHONETIC as usize] > 0.08);
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
            MatchProfile::of_case(
                &Case::parse_fields(&fields).unwrap(),
                &Sealer::from_key(&[1; 32]),
            )
            .unwrap()
        };
        let mut sample: Vec<MatchProfile> = (0..50).map(|_| profile("Mohammed")).collect();
        sample.push(profile("Zebulon"));
        let comparer = Comparer;
        let model = Model::from_sample(&sample, 51, &comparer);
        let common = comparer.compare(&sample[0], &sample[1], &|w| model.rarity(w));
        let rare = comparer.compare(&sample[50], &sample[50], &|w| model.rarity(w));
        assert!(model.weight(&rare) > model.weight(&common) + 3.0);
    }

    #[test]
    fn names_that_go_together_weigh_less_than_their_words_apart() {
        use crate::seal::Sealer;
        use fieldcase_core::model::Case;
        let profile = |given: &str, family: &str| {
            let fields = fieldcase_core::model::flatten_json(
                &serde_json::json!({"given_name": given, "family_name": family}),
            )
            .unwrap();
            MatchProfile::of_case(
                &Case::parse_fields(&fields).unwrap(),
                &Sealer::from_key(&[1; 32]),
            )
            .unwrap()
        };
        // Amina and Okafor each on 20 of 100 profiles: together on 10 in one caseload,
        // on 1 in the other.
        let caseload = |together: usize| {
            let mut tf = TermFrequencies::empty();
            for i in 0..100 {
                let (given, family) = match i {
                    _ if i < together => ("Amina".to_owned(), "Okafor".to_owned()),
                    _ if i < 20 => ("Amina".to_owned(), format!("Family{i}")),
                    _ if i < 40 - together => (format!("Given{i}"), "Okafor".to_owned()),
                    _ => (format!("Given{i}"), format!("Family{i}")),
                };
                tf.add(&profile(&given, &family));
            }
            tf
        };
        let (often, seldom) = (caseload(10), caseload(1));
        let pair = profile("Amina", "Okafor");
        let tokens = |tf: &TermFrequencies| {
            (
                tf.token(&pair.given.words[0]),
                tf.token(&pair.family.words[0]),
            )
        };
        let (a, o) = tokens(&often);
        assert_eq!(often.pair_frequency_besides(&a, &o, 0), 0.1);
        assert_eq!(
            often.pair_frequency_besides(&o, &a, 2),
            0.08,
            "either order (swapped names count together), the compared two left out"
        );
        let (sa, so) = tokens(&seldom);
        assert_eq!(seldom.pair_frequency_besides(&sa, &so, 0), 0.01);
        assert_eq!(seldom.pair_frequency_besides(&sa, &so, 2), 0.0);
        assert_eq!(often.frequency_of_token(&a), seldom.frequency_of_token(&sa));

        let model = Model::from_sample(&[], 100, &Comparer);
        let v = vector(NAME_EXACT, NAME_EXACT, DOB_SAME_YEAR);
        let words = [Some(0.01), Some(0.01)];
        let weight = |others| model.weight_with_pair(&v, words, Some(others));
        // Names common together weigh less than their words apart...
        assert!((weight(0.01) - weight(0.1) - 10f64.log2()).abs() < 1e-9);
        assert!(weight(0.01) < model.weight_of(&v, words) - 3.0);
        // ...and a combination no one else carries weighs as its words do.
        assert!((weight(0.0) - model.weight_of(&v, words)).abs() < 1e-9);
        // Without both names exact, the pair's frequency is not used.
        let one_name = vector(NAME_EXACT, NAME_PHONETIC, DOB_SAME_YEAR);
        assert_eq!(
            model.weight_with_pair(&one_name, [Some(0.2), None], Some(0.01)),
            model.weight_of(&one_name, [Some(0.2), None])
        );
    }

    #[test]
    fn the_threshold_follows_the_expected_f1_and_never_lists_the_hopeless() {
        let mut clear = vec![0.99, 0.98, 0.97, 0.6, 0.02, 0.001];
        let t = listing_threshold(&mut clear, 0.0);
        assert!((0.02..=0.6).contains(&t), "{t}");
        assert!(
            listing_threshold(&mut [0.001], 0.0) > 0.001,
            "nothing listed"
        );
        assert_eq!(listing_threshold(&mut [], 0.0), 1.0);
    }
}
