//! How two match profiles compare, feature by feature, in discrete **comparison levels**: the
//! comparison vector of Fellegi–Sunter record linkage ([`super::fellegi_sunter`] weighs it).
//!
//! Names are compared in memory on the folded words of the opened profiles (never stored or
//! logged): exact (a word or joined run in common), phonetic (a word pair with the same Double
//! Metaphone code), or by Jaro-Winkler similarity of the closest word pair (folded, or as
//! spelled: the folding can move a typo further from its name), at two levels, with
//! a level between them for a word pair with the same consonant skeleton (a name in Arabic
//! script, written without its short vowels, against its Latin spelling).
//! Given and family names are compared straight and crossed (given against family); the
//! better orientation counts, so a swapped given and family name costs nothing. Other names
//! count with the family name. A word in common while each side has another word unlike the
//! other's is its own level (exact *in part*). Dates of birth compare at the precision both
//! have: exact, equal to the month or only to the year (one side knowing no more), day and
//! month swapped, one part off (a year off by one, a mistyped day or month) at full or at
//! partial precision. A victim's story compares too: the country where the person was
//! exploited (same or not) and the exploitation types (the same set, some in common, none):
//! one person recorded twice tells the same story far more often than two namesakes of a
//! region do, though those share the region's few destinations and common types by chance
//! (the model's `u` is taken among pairs whose names agree, so it knows). A feature one side
//! lacks is *missing* and says nothing either way.
//!
//! The model weighs these levels; reviewers see them folded into the levels the list has
//! always shown ([`Features`]), so the API's values do not change.
//!
//! Pure functions: no I/O, no model; deterministic.

use super::matching::{skeletons_meet, MatchProfile, NameField};
use fieldcase_core::model::codes::{ExploitationType, Sex};
use fieldcase_core::model::PartialDate;
use serde::Serialize;

/// Features compared, in vector order (see [`FEATURE_NAMES`]).
pub const FEATURES: usize = 9;
pub const GIVEN: usize = 0;
pub const FAMILY: usize = 1;
pub const DATE_OF_BIRTH: usize = 2;
pub const DOCUMENT: usize = 3;
pub const PHONE: usize = 4;
pub const NATIONALITY: usize = 5;
pub const SEX: usize = 6;
pub const DESTINATION: usize = 7;
pub const EXPLOITATION: usize = 8;

/// Names of the features, as the model and its documentation call them.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "given_name",
    "family_name",
    "date_of_birth",
    "document",
    "phone",
    "nationality",
    "sex",
    "country_of_destination",
    "exploitation_types",
];

/// Most levels a feature has.
pub const MAX_LEVELS: usize = 8;

/// The levels of each feature, worst agreement first (level `0` is "different").
pub const LEVELS: [&[&str]; FEATURES] = [
    NAME_LEVELS,
    NAME_LEVELS,
    &[
        "different",
        "one_part_off_partially",
        "day_or_month_off",
        "year_off",
        "day_month_swapped",
        "same_year",
        "same_month",
        "exact",
    ],
    &["different", "shared"],
    &["different", "same"],
    &["different", "same"],
    &["different", "same"],
    &["different", "same"],
    &["different", "overlapping", "same"],
];

const NAME_LEVELS: &[&str] = &[
    "different",
    "similar",
    "same_consonants",
    "very_similar",
    "phonetic",
    "exact_in_part",
    "exact",
];

/// Name levels.
pub const NAME_DIFFERENT: u8 = 0;
pub const NAME_SIMILAR: u8 = 1;
/// A word pair with the same consonant skeleton, one of the words written without its vowels
/// (`super::matching::skeletons_meet`), and no closer likeness: a name in Arabic script,
/// written without its short vowels, against its Latin spelling (`محمد`/`Mohammed`) — or, by
/// chance, against another name with those consonants. A level of its own, so the model
/// weighs it by what it says, not as a phonetic match does.
pub const NAME_SAME_CONSONANTS: u8 = 2;
pub const NAME_VERY_SIMILAR: u8 = 3;
pub const NAME_PHONETIC: u8 = 4;
/// A word in common, but each side has another word the other lacks and nothing like it
/// (`Haddad Ahmed` / `Haddad Omar`): namesakes in one word, often a father's name apart.
pub const NAME_EXACT_IN_PART: u8 = 5;
/// A word in common and no word of one side contradicting the other (one side may have
/// fewer words: a second agency often records fewer).
pub const NAME_EXACT: u8 = 6;

/// Date-of-birth levels.
pub const DOB_DIFFERENT: u8 = 0;
/// At the precision one side has (year, or year and month), one part off: the years one
/// apart, or the months: weak, a birth year is often guessed.
pub const DOB_OFF_PARTIALLY: u8 = 1;
/// Full dates in the same year with the day or the month unlike (a slip typing one of them —
/// or two people born the same year and month). Told from [`DOB_YEAR_OFF`]: two namesakes
/// share a year and month one time in some 500, a day and month with the year one off one
/// time in some 7,000, so the two say very different things.
pub const DOB_DAY_OR_MONTH_OFF: u8 = 2;
/// Full dates with the same day and month, the years one apart (a guessed or misremembered
/// year).
pub const DOB_YEAR_OFF: u8 = 3;
pub const DOB_SWAPPED: u8 = 4;
/// Equal at the year, one side knowing no more.
pub const DOB_SAME_YEAR: u8 = 5;
/// Equal at the year and month, one side knowing no more.
pub const DOB_SAME_MONTH: u8 = 6;
pub const DOB_EXACT: u8 = 7;

/// Exploitation-type levels: no type in common, some in common, the same set.
pub const EXPLOITATION_DIFFERENT: u8 = 0;
pub const EXPLOITATION_OVERLAPPING: u8 = 1;
pub const EXPLOITATION_SAME: u8 = 2;

/// The level a reviewer sees (and the API names): the model's finer levels folded into the
/// levels the review list has always shown.
fn public_level(feature: usize, level: u8) -> &'static str {
    match (feature, level) {
        (GIVEN | FAMILY, NAME_EXACT_IN_PART) => "exact",
        (GIVEN | FAMILY, NAME_SAME_CONSONANTS) => "phonetic",
        (DATE_OF_BIRTH, DOB_OFF_PARTIALLY | DOB_DAY_OR_MONTH_OFF | DOB_YEAR_OFF) => "one_part_off",
        (DATE_OF_BIRTH, DOB_SAME_YEAR | DOB_SAME_MONTH) => "agree_partially",
        _ => LEVELS[feature]
            .get(level as usize)
            .copied()
            .unwrap_or("different"),
    }
}

/// A feature one side lacks.
pub const MISSING: u8 = u8::MAX;

/// Jaro-Winkler similarity of the closest word pair at or above which two names are "very
/// similar": one letter in a typical name of six to eight letters changed, inserted or moved
/// (Splink's default name comparison uses the same cut).
pub const JARO_WINKLER_VERY_SIMILAR: f64 = 0.92;
/// ... and "similar": two such changes, or one in a short name.
pub const JARO_WINKLER_SIMILAR: f64 = 0.84;

/// A comparison vector: one level per feature, [`MISSING`] where a side lacks it.
pub type Vector = [u8; FEATURES];

/// Two profiles compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub vector: Vector,
    /// For a name feature at [`NAME_EXACT`]: the shared folded token, for the model's
    /// term-frequency adjustment (the rarest one, when several are shared).
    pub exact_tokens: [Option<String>; 2],
    /// Given and family names matched crossed.
    pub swapped: bool,
}

impl Comparison {
    /// Whether any name agrees at all, or a document or phone is shared: a pair with none of
    /// these is no probable duplicate whatever the model weighs.
    pub fn is_plausible(&self) -> bool {
        let name = |f: usize| self.vector[f] != MISSING && self.vector[f] > NAME_DIFFERENT;
        name(GIVEN) || name(FAMILY) || self.vector[DOCUMENT] == 1 || self.vector[PHONE] == 1
    }
}

/// What a reviewer sees instead of names: the level of each feature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Features {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'static str>,
    /// Given and family names matched crossed.
    pub names_swapped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_of_destination: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exploitation_types: Option<&'static str>,
}

impl Features {
    pub fn of(c: &Comparison) -> Features {
        let level = |f: usize| -> Option<&'static str> {
            let l = c.vector[f];
            (l != MISSING).then(|| public_level(f, l))
        };
        Features {
            given_name: level(GIVEN),
            family_name: level(FAMILY),
            names_swapped: c.swapped,
            date_of_birth: level(DATE_OF_BIRTH),
            document: level(DOCUMENT),
            phone: level(PHONE),
            nationality: level(NATIONALITY),
            sex: level(SEX),
            country_of_destination: level(DESTINATION),
            exploitation_types: level(EXPLOITATION),
        }
    }
}

/// Compares profiles (phonetic codes come with the profiles' name fields).
#[derive(Default)]
pub struct Comparer;

/// A name field's level against another, with the shared token at the exact level.
struct NameMatch<'a> {
    level: u8,
    exact: Vec<&'a str>,
}

impl Comparer {
    /// Compares two profiles. `rarity` orders shared exact tokens (lower = rarer), so the
    /// term-frequency adjustment uses the most telling one.
    pub fn compare(
        &self,
        a: &MatchProfile,
        b: &MatchProfile,
        rarity: &dyn Fn(&str) -> f64,
    ) -> Comparison {
        // Other names count with the family name: both are "the rest of the name".
        let (given_a, given_b) = ([&a.given], [&b.given]);
        let (family_a, family_b) = ([&a.family, &a.other], [&b.family, &b.other]);
        let straight = [names(&given_a, &given_b), names(&family_a, &family_b)];
        let crossed = [names(&given_a, &family_b), names(&family_a, &given_b)];
        let strength = |m: &[Option<NameMatch>; 2]| -> u32 {
            m.iter().flatten().map(|n| u32::from(n.level) + 1).sum()
        };
        let swapped = strength(&crossed) > strength(&straight);
        let chosen = if swapped {
            in_given_name_order(crossed)
        } else {
            straight
        };
        let mut vector = [MISSING; FEATURES];
        let mut exact_tokens: [Option<String>; 2] = [None, None];
        for (f, m) in [GIVEN, FAMILY].into_iter().zip(chosen) {
            if let Some(m) = m {
                vector[f] = m.level;
                // The rarest; of equally rare words the first in order, whichever record
                // came first.
                exact_tokens[f] = m
                    .exact
                    .into_iter()
                    .min_by(|x, y| rarity(x).total_cmp(&rarity(y)).then_with(|| x.cmp(y)))
                    .map(str::to_owned);
            }
        }
        vector[DATE_OF_BIRTH] = match (a.date_of_birth, b.date_of_birth) {
            (Some(x), Some(y)) => dob_level(x, y),
            _ => MISSING,
        };
        vector[DOCUMENT] = if a.documents.is_empty() || b.documents.is_empty() {
            MISSING
        } else {
            u8::from(
                a.documents
                    .iter()
                    .any(|d| b.documents.binary_search(d).is_ok()),
            )
        };
        vector[PHONE] = match (a.phone, b.phone) {
            (Some(x), Some(y)) => u8::from(x == y),
            _ => MISSING,
        };
        vector[NATIONALITY] = match (a.nationality, b.nationality) {
            (Some(x), Some(y)) => u8::from(x == y),
            _ => MISSING,
        };
        vector[SEX] = match (a.sex, b.sex) {
            (Some(x @ (Sex::Female | Sex::Male)), Some(y @ (Sex::Female | Sex::Male))) => {
                u8::from(x == y)
            }
            _ => MISSING,
        };
        vector[DESTINATION] = match (a.destination, b.destination) {
            (Some(x), Some(y)) => u8::from(x == y),
            _ => MISSING,
        };
        vector[EXPLOITATION] = exploitation_level(&a.exploitation, &b.exploitation);
        Comparison {
            vector,
            exact_tokens,
            swapped,
        }
    }
}

/// How two records' exploitation types agree (both sorted); [`MISSING`] when either has none.
fn exploitation_level(x: &[ExploitationType], y: &[ExploitationType]) -> u8 {
    if x.is_empty() || y.is_empty() {
        MISSING
    } else if x == y {
        EXPLOITATION_SAME
    } else if x.iter().any(|t| y.contains(t)) {
        EXPLOITATION_OVERLAPPING
    } else {
        EXPLOITATION_DIFFERENT
    }
}

/// The two crossings of a swapped pair (first record's given name against the second's family
/// name, and the other way round) in the order they fill the given and family name's levels:
/// the better agreeing first. Which record comes first exchanges the two crossings, and a
/// pair must compare the same either way (record ids order them, and ids are random).
fn in_given_name_order<'a>(crossed: [Option<NameMatch<'a>>; 2]) -> [Option<NameMatch<'a>>; 2] {
    fn key<'a>(m: &Option<NameMatch<'a>>) -> Option<(u8, Vec<&'a str>)> {
        m.as_ref().map(|n| {
            let mut words = n.exact.clone();
            words.sort_unstable();
            (n.level, words)
        })
    }
    let [first, second] = crossed;
    if key(&second) > key(&first) {
        [second, first]
    } else {
        [first, second]
    }
}

/// One name (its fields together) against another: the level, and at the exact level the
/// tokens in common. Called four times per pair compared (millions of times a scan), so it
/// walks the fields' tokens in place rather than collecting them.
fn names<'a>(x: &[&'a NameField], y: &[&'a NameField]) -> Option<NameMatch<'a>> {
    fn tokens<'a, 'f>(f: &'f [&'a NameField]) -> impl Iterator<Item = &'a str> + 'f {
        f.iter().flat_map(|n| n.tokens())
    }
    fn codes<'a, 'f>(f: &'f [&'a NameField]) -> impl Iterator<Item = &'a String> + 'f {
        f.iter()
            .flat_map(|n| n.codes.iter())
            .filter(|c| !c.is_empty())
    }
    fn spellings<'a, 'f>(f: &'f [&'a NameField]) -> impl Iterator<Item = &'a str> + 'f {
        f.iter().flat_map(|n| n.spelled.iter()).map(String::as_str)
    }
    fn share_consonants(x: &[&NameField], y: &[&NameField]) -> bool {
        x.iter().flat_map(|n| &n.skeletons).any(|&s| {
            y.iter()
                .any(|n| n.skeletons.iter().any(|&t| skeletons_meet(s, t)))
        })
    }
    if tokens(x).next().is_none() || tokens(y).next().is_none() {
        return None;
    }
    let exact: Vec<&str> = tokens(x).filter(|t| tokens(y).any(|u| u == *t)).collect();
    if !exact.is_empty() {
        let level = if contradicts(x, y, &exact) {
            NAME_EXACT_IN_PART
        } else {
            NAME_EXACT
        };
        return Some(NameMatch { level, exact });
    }
    if codes(x).any(|c| codes(y).any(|d| d == c)) {
        return Some(NameMatch {
            level: NAME_PHONETIC,
            exact: Vec::new(),
        });
    }
    let best =
        tokens(x)
            .flat_map(|s| tokens(y).map(move |t| similarity_from(s, t, JARO_WINKLER_SIMILAR)))
            .chain(spellings(x).flat_map(|s| {
                spellings(y).map(move |t| similarity_from(s, t, JARO_WINKLER_SIMILAR))
            }))
            .fold(0.0, f64::max);
    let level = if best >= JARO_WINKLER_VERY_SIMILAR {
        NAME_VERY_SIMILAR
    } else if share_consonants(x, y) {
        NAME_SAME_CONSONANTS
    } else if best >= JARO_WINKLER_SIMILAR {
        NAME_SIMILAR
    } else {
        NAME_DIFFERENT
    };
    Some(NameMatch {
        level,
        exact: Vec::new(),
    })
}

/// The Jaro-Winkler similarity of two words when it may reach `floor`, else `0.0`. Most word
/// pairs a scan meets are unlike, and `strsim::jaro_winkler` allocates and walks a window per
/// letter; an upper bound from the letters the words have in common (Jaro's matching letters
/// are a subset of them) rules those pairs out first. Levels only ask whether the similarity
/// reaches a floor, so they are the same either way.
fn similarity_from(s: &str, t: &str, floor: f64) -> f64 {
    if jaro_winkler_bound(s, t) >= floor {
        strsim::jaro_winkler(s, t)
    } else {
        0.0
    }
}

/// An upper bound of `strsim::jaro_winkler(s, t)`. With `m` matching letters of `|s|` and
/// `|t|`, Jaro is `(m/|s| + m/|t| + (m − transpositions)/m) / 3`, at most
/// `(m/|s| + m/|t| + 1) / 3` for the largest possible `m`: the letters in common, counted
/// with repeats. Winkler's prefix adds at most `0.4 · (1 − jaro)`. Letters are counted in 32
/// buckets (a bucket shared by two letters only raises the bound).
fn jaro_winkler_bound(s: &str, t: &str) -> f64 {
    let histogram = |w: &str| {
        let mut counts = [0u16; 32];
        let mut len = 0u32;
        for c in w.chars() {
            let bucket = (u32::from(c) & 31) as usize;
            counts[bucket] = counts[bucket].saturating_add(1);
            len += 1;
        }
        (counts, len)
    };
    let ((hs, ls), (ht, lt)) = (histogram(s), histogram(t));
    if ls == 0 || lt == 0 {
        // strsim: 1.0 for two empty words, 0.0 for one; not worth bounding.
        return 1.0;
    }
    let common: u32 = hs.iter().zip(&ht).map(|(a, b)| u32::from(*a.min(b))).sum();
    if common == 0 {
        return 0.0;
    }
    let m = f64::from(common.min(ls).min(lt));
    let jaro = (m / f64::from(ls) + m / f64::from(lt) + 1.0) / 3.0;
    // A hair above, so rounding never puts the bound under the value it bounds.
    jaro + 0.4 * (1.0 - jaro) + 1e-9
}

/// Whether two names sharing `exact` tokens still contradict each other: both have a word
/// left over, and a leftover word of one side is like no leftover word of the other (by
/// phonetic code, consonants, or Jaro-Winkler similarity). A shared joined run (`al hasan`/`alhasan`)
/// accounts for its words, so it never contradicts.
fn contradicts<'a>(x: &[&'a NameField], y: &[&'a NameField], exact: &[&str]) -> bool {
    struct Leftover<'a> {
        word: &'a str,
        spelled: &'a str,
        code: &'a str,
        skeleton: u64,
    }
    let leftovers = |f: &[&'a NameField]| -> Vec<Leftover<'a>> {
        f.iter()
            .flat_map(|n| {
                (0..n.words.len()).map(move |i| Leftover {
                    word: &n.words[i],
                    spelled: &n.spelled[i],
                    code: &n.codes[i],
                    skeleton: n.skeletons[i],
                })
            })
            .filter(|l| !exact.contains(&l.word))
            .collect()
    };
    let words = |f: &[&NameField]| f.iter().flat_map(|n| n.words.iter()).count();
    let shared_run = exact.iter().any(|t| {
        !x.iter().any(|n| n.words.iter().any(|w| w == t))
            || !y.iter().any(|n| n.words.iter().any(|w| w == t))
    });
    if shared_run || words(x) == 0 || words(y) == 0 {
        return false;
    }
    let (lx, ly) = (leftovers(x), leftovers(y));
    if lx.is_empty() || ly.is_empty() {
        return false;
    }
    let alike = |a: &Leftover, b: &Leftover| {
        (!a.code.is_empty() && a.code == b.code)
            || skeletons_meet(a.skeleton, b.skeleton)
            || similarity_from(a.word, b.word, JARO_WINKLER_SIMILAR) >= JARO_WINKLER_SIMILAR
            || similarity_from(a.spelled, b.spelled, JARO_WINKLER_SIMILAR) >= JARO_WINKLER_SIMILAR
    };
    lx.iter().any(|a| !ly.iter().any(|b| alike(a, b)))
        || ly.iter().any(|b| !lx.iter().any(|a| alike(a, b)))
}

/// How two dates of birth compare, at the precision both have.
fn dob_level(x: PartialDate, y: PartialDate) -> u8 {
    let precision = |d: PartialDate| match d {
        PartialDate::Year(_) => 1,
        PartialDate::Month(..) => 2,
        PartialDate::Day(_) => 3,
    };
    let shared = precision(x).min(precision(y));
    let parts = |d: PartialDate| {
        [
            Some(d.year()),
            d.month().map(u16::from),
            d.day().map(u16::from),
        ]
    };
    let (px, py) = (parts(x), parts(y));
    let differing: Vec<usize> = (0..shared).filter(|&i| px[i] != py[i]).collect();
    match differing.as_slice() {
        [] if shared == 3 => DOB_EXACT,
        [] if shared == 2 => DOB_SAME_MONTH,
        [] => DOB_SAME_YEAR,
        [1, 2] if px[1] == py[2] && px[2] == py[1] => DOB_SWAPPED,
        [0] if x.year().abs_diff(y.year()) == 1 && shared == 3 => DOB_YEAR_OFF,
        [0] if x.year().abs_diff(y.year()) == 1 => DOB_OFF_PARTIALLY,
        [1] | [2] if shared == 3 => DOB_DAY_OR_MONTH_OFF,
        [1] => DOB_OFF_PARTIALLY,
        _ => DOB_DIFFERENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::Sealer;
    use fieldcase_core::model::Case;
    use serde_json::json;

    fn profile(v: serde_json::Value) -> MatchProfile {
        let fields = fieldcase_core::model::flatten_json(&v).unwrap();
        let case = Case::parse_fields(&fields).unwrap();
        MatchProfile::of_case(&case, &Sealer::from_key(&[5; 32])).unwrap()
    }

    fn compare(a: serde_json::Value, b: serde_json::Value) -> Comparison {
        Comparer.compare(&profile(a), &profile(b), &|_| 0.0)
    }

    #[test]
    fn a_victims_story_compares_where_both_records_tell_it() {
        let victim = |destination: &str, types: &[&str]| {
            let mut case = json!({
                "given_name": "Amina", "family_name": "Haddad",
                "categories": ["victim_of_trafficking"], "exploitation_types": types,
            });
            if types.contains(&"labour") {
                case["labour_sectors"] = json!(["construction"]);
            }
            if !destination.is_empty() {
                case["country_of_destination"] = json!(destination);
            }
            case
        };
        let levels = |a, b| {
            let c = compare(a, b);
            (c.vector[DESTINATION], c.vector[EXPLOITATION])
        };
        assert_eq!(
            levels(victim("LBY", &["labour"]), victim("LBY", &["labour"])),
            (1, EXPLOITATION_SAME)
        );
        assert_eq!(
            levels(
                victim("LBY", &["labour", "sexual"]),
                victim("SAU", &["sexual"])
            ),
            (0, EXPLOITATION_OVERLAPPING)
        );
        assert_eq!(
            levels(victim("", &["forced_begging"]), victim("LBY", &["labour"])),
            (MISSING, EXPLOITATION_DIFFERENT)
        );
        let untold = json!({"given_name": "Amina", "family_name": "Haddad"});
        assert_eq!(
            levels(victim("LBY", &["labour"]), untold),
            (MISSING, MISSING),
            "a record without a story says nothing either way"
        );
        let features = Features::of(&compare(
            victim("LBY", &["labour", "sexual"]),
            victim("LBY", &["sexual"]),
        ));
        assert_eq!(features.country_of_destination, Some("same"));
        assert_eq!(features.exploitation_types, Some("overlapping"));
    }

    #[test]
    fn a_typo_the_folding_moves_is_still_seen_in_the_spelling() {
        // `irina` and `iria` fold to `irana` and `irea`: 0.83 apart folded, 0.95 as spelled.
        let c = compare(
            json!({"given_name": "Irina", "family_name": "Petrova"}),
            json!({"given_name": "Iria", "family_name": "Petrova"}),
        );
        assert_eq!(c.vector[GIVEN], NAME_VERY_SIMILAR);
        // The same slip in a second family name does not make the names contradict.
        let c = compare(
            json!({"given_name": "Olga", "family_name": "Petrova Irina"}),
            json!({"given_name": "Olga", "family_name": "Petrova Iria"}),
        );
        assert_eq!(c.vector[FAMILY], NAME_EXACT);
        // Two names both spelled out and far apart still differ.
        let c = compare(
            json!({"given_name": "Irina", "family_name": "Petrova"}),
            json!({"given_name": "Oksana", "family_name": "Petrova"}),
        );
        assert_eq!(c.vector[GIVEN], NAME_DIFFERENT);
    }

    proptest::proptest! {
        /// The bound that skips Jaro-Winkler never skips a pair that reaches a level: words
        /// from a few letters (so they share many), with repeats and a non-Latin letter.
        #[test]
        fn the_letter_bound_is_never_below_jaro_winkler(
            s in "[abdeilmnorsuvyж]{0,12}",
            t in "[abdeilmnorsuvyж]{0,12}",
        ) {
            let exact = strsim::jaro_winkler(&s, &t);
            proptest::prop_assert!(jaro_winkler_bound(&s, &t) >= exact, "{s} {t}");
            for floor in [JARO_WINKLER_SIMILAR, JARO_WINKLER_VERY_SIMILAR] {
                let kept = similarity_from(&s, &t, floor);
                proptest::prop_assert!(kept == exact || (kept == 0.0 && exact < floor));
            }
        }
    }

    #[test]
    fn the_letter_bound_rules_out_unlike_words() {
        assert_eq!(
            similarity_from("ahmed", "kowalczyk", JARO_WINKLER_SIMILAR),
            0.0
        );
        assert!(similarity_from("nakato", "nakkato", JARO_WINKLER_SIMILAR) > 0.9);
    }

    #[test]
    fn names_compare_exactly_phonetically_and_by_similarity_in_either_order() {
        let c = compare(
            json!({"given_name": "Mohammed", "family_name": "Ivanov"}),
            json!({"given_name": "Ivanoff", "family_name": "Muhammad"}),
        );
        assert!(c.swapped);
        assert_eq!(c.vector[GIVEN], NAME_EXACT, "folding makes them one");
        assert_eq!(c.vector[FAMILY], NAME_EXACT, "Ivanoff folds as Ivanov");
        let c = compare(
            json!({"given_name": "Mohammed", "family_name": "Ivanov"}),
            json!({"given_name": "Muhammad", "family_name": "Ivanova"}),
        );
        assert_eq!(c.vector[FAMILY], NAME_PHONETIC);
        assert_eq!(c.exact_tokens[GIVEN].as_deref(), Some("mahamad"));

        let c = compare(
            json!({"given_name": "Olena", "family_name": "Kovalenko"}),
            json!({"given_name": "Elena", "family_name": "Kovalenco"}),
        );
        assert!(!c.swapped);
        assert_eq!(c.vector[GIVEN], NAME_PHONETIC);
        assert!(c.vector[FAMILY] >= NAME_PHONETIC);

        let c = compare(
            json!({"given_name": "Grace", "family_name": "Achieng"}),
            json!({"given_name": "Amina", "family_name": "Nakato"}),
        );
        assert_eq!(c.vector[GIVEN], NAME_DIFFERENT);
        assert_eq!(c.vector[FAMILY], NAME_DIFFERENT);
        assert!(!c.is_plausible());
        let c = compare(
            json!({"given_name": "Amina"}),
            json!({"family_name": "Nakato"}),
        );
        assert!(c.swapped, "the only names there are are compared");
        assert_eq!(
            (c.vector[GIVEN], c.vector[FAMILY]),
            (NAME_DIFFERENT, MISSING)
        );
    }

    #[test]
    fn a_pair_compares_the_same_whichever_record_comes_first() {
        let pairs = [
            // Crossed, one crossing exact and the other only alike.
            (
                json!({"given_name": "Yonas", "family_name": "Abraham", "date_of_birth": "1988"}),
                json!({"given_name": "Abrhm", "family_name": "Yonas", "date_of_birth": "1988"}),
            ),
            (
                json!({"given_name": "Yonas", "family_name": "Tesfay Haile", "date_of_birth": "1988-01-09"}),
                json!({"given_name": "Tesfay", "family_name": "Yonas", "date_of_birth": "1988"}),
            ),
            (
                json!({"given_name": "Amina", "family_name": "Hassan", "other_names": ["Mina"]}),
                json!({"given_name": "Hasan", "family_name": "Amina Ali"}),
            ),
        ];
        for (a, b) in pairs {
            let (ab, ba) = (compare(a.clone(), b.clone()), compare(b, a));
            assert_eq!(ab.vector, ba.vector);
            assert_eq!(ab.swapped, ba.swapped);
        }
    }

    #[test]
    fn a_name_in_arabic_script_meets_its_latin_spelling_by_its_consonants() {
        let c = compare(
            json!({"given_name": "Mohammed", "family_name": "Mansour"}),
            json!({"given_name": "محمد", "family_name": "منسور"}),
        );
        assert_eq!(
            c.vector[GIVEN], NAME_PHONETIC,
            "the h of mhmd voiced for its code (`matching::h_voiced`)"
        );
        assert!(c.vector[FAMILY] >= NAME_SAME_CONSONANTS);
        let c = compare(json!({"given_name": "Abbas"}), json!({"given_name": "عبس"}));
        assert_eq!(c.vector[GIVEN], NAME_SAME_CONSONANTS);
        assert_eq!(
            Features::of(&c).given_name,
            Some("phonetic"),
            "as reviewers see it"
        );
        let c = compare(
            json!({"given_name": "Aisha", "family_name": "Al-Hassan"}),
            json!({"given_name": "ايشا", "family_name": "ال حسن"}),
        );
        assert_eq!(
            c.vector[FAMILY], NAME_EXACT,
            "the word besides the shared one is the same name in script: no contradiction"
        );
        // Two short names with their consonants in another order share nothing.
        let c = compare(json!({"given_name": "Hana"}), json!({"given_name": "Nuha"}));
        assert!(c.vector[GIVEN] < NAME_SAME_CONSONANTS);
    }

    #[test]
    fn a_shared_word_with_contradicting_others_is_exact_only_in_part() {
        let family = |x: &str, y: &str| {
            compare(
                json!({"given_name": "Omar", "family_name": x}),
                json!({"given_name": "Omar", "family_name": y}),
            )
            .vector[FAMILY]
        };
        assert_eq!(family("Haddad Ahmed", "Haddad Yasser"), NAME_EXACT_IN_PART);
        assert_eq!(
            family("Haddad Ahmed", "Haddad"),
            NAME_EXACT,
            "a word left out"
        );
        assert_eq!(
            family("Haddad Ahmed", "Haddad Ahmad"),
            NAME_EXACT,
            "spelt apart"
        );
        assert_eq!(family("Al Hassan", "Alhassan"), NAME_EXACT, "a joined run");
        let shown = Features::of(&compare(
            json!({"given_name": "Omar", "family_name": "Haddad Ahmed"}),
            json!({"given_name": "Omar", "family_name": "Haddad Yasser"}),
        ));
        assert_eq!(
            shown.family_name,
            Some("exact"),
            "reviewers see the levels they knew"
        );
    }

    #[test]
    fn dates_of_birth_compare_at_the_precision_both_have() {
        let d = |s: &str| PartialDate::parse(s).unwrap();
        assert_eq!(dob_level(d("1990-05-12"), d("1990-05-12")), DOB_EXACT);
        assert_eq!(dob_level(d("1990-05-12"), d("1990")), DOB_SAME_YEAR);
        assert_eq!(dob_level(d("1990-05-12"), d("1990-05")), DOB_SAME_MONTH);
        assert_eq!(dob_level(d("1990-05-12"), d("1990-12-05")), DOB_SWAPPED);
        assert_eq!(dob_level(d("1990-05-12"), d("1991-05-12")), DOB_YEAR_OFF);
        assert_eq!(
            dob_level(d("1990-05-12"), d("1990-05-13")),
            DOB_DAY_OR_MONTH_OFF
        );
        assert_eq!(
            dob_level(d("1990-05-12"), d("1990-09-12")),
            DOB_DAY_OR_MONTH_OFF
        );
        assert_eq!(dob_level(d("1990"), d("1989-02")), DOB_OFF_PARTIALLY);
        assert_eq!(dob_level(d("1990-05"), d("1990-06-01")), DOB_OFF_PARTIALLY);
        assert_eq!(dob_level(d("1990-05-12"), d("1992-05-12")), DOB_DIFFERENT);
        assert_eq!(dob_level(d("1990-05-12"), d("1990-06-13")), DOB_DIFFERENT);
    }

    #[test]
    fn features_name_every_level_and_nothing_else() {
        let c = compare(
            json!({"given_name": "Amina", "date_of_birth": "1990", "sex": "female"}),
            json!({"given_name": "Amina", "date_of_birth": "1990-01-02", "sex": "male"}),
        );
        let f = serde_json::to_value(Features::of(&c)).unwrap();
        assert_eq!(
            f,
            json!({"given_name": "exact", "names_swapped": false,
                   "date_of_birth": "agree_partially", "sex": "different"})
        );
    }
}
