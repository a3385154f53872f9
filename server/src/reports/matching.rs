//! Probable duplicates: the same person recorded twice (often by two agencies), found without
//! keeping names in the clear.
//!
//! # What is kept
//!
//! For each case, a [`MatchProfile`] of keyed tokens (`Sealer::match_token`, HMAC under a key
//! derived from the server key): the folded name tokens of [`fieldcase_core::normalize`]
//! (case, diacritics, script and transliteration folded; words and joined runs), the date of
//! birth at year, year-month and full precision, document numbers and the phone key.
//! With nationality and sex, the profile is stored sealed under the server key; only the block
//! keys (below) stay in the clear, as keyed tokens. Without the server key a token cannot be
//! tested against a guessed name; with the database alone, one sees only which cases share a
//! block.
//!
//! # Finding candidates
//!
//! Comparing every pair is quadratic, so cases are *blocked*: each case gets a few block keys
//! ([`MatchProfile::blocks`]) and only cases sharing a block are compared:
//! - a name pair: one token of the given name with one of the family name (unordered, so a
//!   swapped given/family name gives the same pair), with nationality and birth year;
//! - each document number; the phone key.
//!
//! A block holding more than [`MAX_BLOCK_RECORDS`] cases says little (a common name pair) and
//! would cost quadratically: it is skipped and counted. Known misses, accepted: a re-recording
//! whose nationality or birth year differs and that shares no document or phone; a name split
//! across fields differently in a way that leaves no given×family pair in common.
//!
//! # Scoring
//!
//! [`score`] weighs the features (names overlap, date of birth at the finest precision both
//! have, documents, phone, nationality, sex) into a score in `[0, 1]`; pairs at or above
//! [`MIN_CANDIDATE_SCORE`] are listed for a person to confirm or reject. The features are shown
//! to the reviewer; names never are.

use crate::seal::{Sealer, MATCH_TOKEN_BYTES};
use fieldcase_core::model::codes::Sex;
use fieldcase_core::model::{Case, Country};
use fieldcase_core::normalize;
use serde::Serialize;
use std::collections::BTreeSet;

/// A keyed token.
pub type Token = [u8; MATCH_TOKEN_BYTES];

/// Largest block compared. A block of `n` cases costs `n·(n−1)/2` comparisons; 50 keeps a
/// block under 1,225 and real name pairs with nationality and birth year far below it.
pub const MAX_BLOCK_RECORDS: usize = 50;

/// Lowest score listed as a probable duplicate: a strong name match with a date of birth or
/// nationality agreeing, or a shared document with some name agreement.
pub const MIN_CANDIDATE_SCORE: f64 = 0.6;

/// Most name tokens kept per case (every word and joined run of each name field).
pub const MAX_NAME_TOKENS: usize = 48;

/// How precisely a date of birth is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DobPrecision {
    Year = 1,
    YearMonth = 2,
    Full = 3,
}

/// What duplicate matching keeps of one case: tokens, nationality and sex (stored sealed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchProfile {
    /// Sorted, distinct.
    pub name_tokens: Vec<Token>,
    /// Tokens of the date of birth at year, year-month and full precision, as far as known.
    pub dob: Vec<Token>,
    /// Sorted, distinct.
    pub documents: Vec<Token>,
    pub phone: Option<Token>,
    pub nationality: Option<Country>,
    pub sex: Option<Sex>,
    /// Block keys (see the module docs), sorted, distinct.
    pub blocks: Vec<Token>,
}

fn field_tokens(names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .flat_map(|n| normalize::name_tokens(n))
        .collect()
}

impl MatchProfile {
    /// The profile of a case. `None` when it carries nothing to match on (no name, document
    /// or phone): an anonymous intake is never a candidate.
    pub fn of_case(case: &Case, sealer: &Sealer) -> Option<MatchProfile> {
        let given = field_tokens(
            &case
                .given_name
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let family = field_tokens(
            &case
                .family_name
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let other = field_tokens(
            &case
                .other_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let mut all: Vec<&String> = given.iter().chain(&family).chain(&other).collect();
        all.sort();
        all.dedup();
        all.truncate(MAX_NAME_TOKENS);
        let mut name_tokens: Vec<Token> =
            all.iter().map(|t| sealer.match_token("name", t)).collect();
        name_tokens.sort();
        name_tokens.dedup();

        let mut dob = Vec::new();
        let mut birth_year = String::from("-");
        if let Some(d) = case.date_of_birth {
            birth_year = d.year().to_string();
            dob.push(sealer.match_token("dob1", &birth_year));
            if let Some(m) = d.month() {
                dob.push(sealer.match_token("dob2", &format!("{}-{m:02}", d.year())));
                if let Some(day) = d.day() {
                    dob.push(sealer.match_token("dob3", &format!("{}-{m:02}-{day:02}", d.year())));
                }
            }
        }
        let mut documents: Vec<Token> = case
            .document_numbers
            .iter()
            .filter_map(|d| normalize::document_number(&d.number))
            .map(|n| sealer.match_token("document", &n))
            .collect();
        documents.sort();
        documents.dedup();
        let phone = case
            .phone
            .as_deref()
            .and_then(normalize::phone)
            .map(|p| sealer.match_token("phone", &p));

        if name_tokens.is_empty() && documents.is_empty() && phone.is_none() {
            return None;
        }

        // Name pairs: given × family (or within the one name field there is).
        let nationality = case.nationality.map(|c| c.as_str()).unwrap_or("-");
        let mut pairs: BTreeSet<(&String, &String)> = BTreeSet::new();
        let groups: Vec<&BTreeSet<String>> = [&given, &family, &other]
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect();
        if groups.len() >= 2 {
            for (i, a) in groups.iter().enumerate() {
                for b in &groups[i + 1..] {
                    for x in a.iter() {
                        for y in b.iter() {
                            if x != y {
                                pairs.insert(if x < y { (x, y) } else { (y, x) });
                            }
                        }
                    }
                }
            }
        } else if let Some(only) = groups.first() {
            let words: Vec<&String> = only.iter().collect();
            for (i, x) in words.iter().enumerate() {
                for y in &words[i + 1..] {
                    pairs.insert((x, y));
                }
            }
        }
        let mut blocks: Vec<Token> = pairs
            .into_iter()
            .map(|(x, y)| {
                sealer.match_token("block_name", &format!("{x}|{y}|{nationality}|{birth_year}"))
            })
            .collect();
        blocks.extend(documents.iter().map(|d| prefixed(b'd', d)));
        blocks.extend(phone.iter().map(|p| prefixed(b'p', p)));
        blocks.sort();
        blocks.dedup();
        Some(MatchProfile {
            name_tokens,
            dob,
            documents,
            phone,
            nationality: case.nationality,
            sex: case.sex,
            blocks,
        })
    }
}

/// A block key from a document or phone token: the token with its first byte replaced, so
/// it cannot equal a name-pair block.
fn prefixed(tag: u8, token: &Token) -> Token {
    let mut out = *token;
    out[0] = tag;
    out
}

/// How two dates of birth compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DobMatch {
    /// Equal to the day.
    Full,
    /// Equal to the month; at least one is known only to the month.
    YearMonth,
    /// Equal in the year; at least one is known only to the year.
    Year,
    /// They disagree at a precision both have.
    Conflict,
    /// At least one is unknown.
    Missing,
}

/// Which features of two profiles agree: what a reviewer sees instead of names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Features {
    /// Name tokens in common, and the number of tokens of the shorter name.
    pub name_tokens_matched: u32,
    pub name_tokens_compared: u32,
    pub date_of_birth: DobMatch,
    pub document: bool,
    pub phone: bool,
    /// `true` equal, `false` different, absent when either is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<bool>,
}

fn common(a: &[Token], b: &[Token]) -> usize {
    // Both sorted.
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Compares two profiles: the features and a score in `[0, 1]`.
///
/// Weights: names up to 0.4 (tokens in common over the shorter name's tokens, capped at 1:
/// order-insensitive, since tokens are per word); date of birth 0.3 full, 0.25 to the month,
/// 0.2 to the year, −0.3 in conflict; a shared document 0.4; a shared phone 0.2; nationality
/// +0.1 equal, −0.1 different; sex +0.05 equal, −0.2 different (both `female`/`male`).
pub fn score(a: &MatchProfile, b: &MatchProfile) -> (f64, Features) {
    let matched = common(&a.name_tokens, &b.name_tokens);
    // Joined runs inflate token counts; compare against the shorter name's count.
    let compared = a.name_tokens.len().min(b.name_tokens.len());
    let name_part = if compared == 0 {
        0.0
    } else {
        (matched as f64 / compared as f64).min(1.0)
    };
    let precision = a.dob.len().min(b.dob.len());
    let date_of_birth = if precision == 0 {
        DobMatch::Missing
    } else if a.dob[precision - 1] != b.dob[precision - 1] {
        DobMatch::Conflict
    } else {
        match precision {
            1 => DobMatch::Year,
            2 => DobMatch::YearMonth,
            _ => DobMatch::Full,
        }
    };
    let document = common(&a.documents, &b.documents) > 0;
    let phone = a.phone.is_some() && a.phone == b.phone;
    let nationality = match (a.nationality, b.nationality) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    };
    let sex = match (a.sex, b.sex) {
        (Some(x @ (Sex::Female | Sex::Male)), Some(y @ (Sex::Female | Sex::Male))) => Some(x == y),
        _ => None,
    };
    let mut s = 0.4 * name_part;
    s += match date_of_birth {
        DobMatch::Full => 0.3,
        DobMatch::YearMonth => 0.25,
        DobMatch::Year => 0.2,
        DobMatch::Conflict => -0.3,
        DobMatch::Missing => 0.0,
    };
    if document {
        s += 0.4;
    }
    if phone {
        s += 0.2;
    }
    s += match nationality {
        Some(true) => 0.1,
        Some(false) => -0.1,
        None => 0.0,
    };
    s += match sex {
        Some(true) => 0.05,
        Some(false) => -0.2,
        None => 0.0,
    };
    let features = Features {
        name_tokens_matched: matched as u32,
        name_tokens_compared: compared as u32,
        date_of_birth,
        document,
        phone,
        nationality,
        sex,
    };
    ((s.clamp(0.0, 1.0) * 1000.0).round() / 1000.0, features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Values read one by one: these tests need no consent or other rule between fields.
    fn case_of(v: serde_json::Value) -> Case {
        let fields = fieldcase_core::model::flatten_json(&v).unwrap();
        Case::parse_fields(&fields).unwrap()
    }

    fn profile(v: serde_json::Value) -> MatchProfile {
        let sealer = Sealer::from_key(&[5; 32]);
        MatchProfile::of_case(&case_of(v), &sealer).unwrap()
    }

    fn shares_block(a: &MatchProfile, b: &MatchProfile) -> bool {
        common(&a.blocks, &b.blocks) > 0
    }

    #[test]
    fn swapped_transliterated_partial_records_block_together_and_score_high() {
        let a = profile(
            json!({"given_name": "Mohammed", "family_name": "Al-Hassan Okafor",
            "date_of_birth": "1990-05-12", "nationality": "SDN", "sex": "male"}),
        );
        let b = profile(json!({"given_name": "Okafor", "family_name": "Muhammad",
            "date_of_birth": "1990", "nationality": "SDN", "sex": "male"}));
        assert!(shares_block(&a, &b));
        let (s, f) = score(&a, &b);
        assert_eq!(f.date_of_birth, DobMatch::Year);
        assert!(s >= MIN_CANDIDATE_SCORE, "score {s} {f:?}");

        let c = profile(json!({"given_name": "Мухаммед", "family_name": "Окафор",
            "date_of_birth": "1990-05", "nationality": "SDN"}));
        assert!(shares_block(&a, &c));
        assert!(score(&a, &c).0 >= MIN_CANDIDATE_SCORE);
    }

    #[test]
    fn different_people_with_a_common_name_do_not_score() {
        let a = profile(json!({"given_name": "Amina", "family_name": "Nakato",
            "date_of_birth": "1990-05-12", "nationality": "UGA", "sex": "female"}));
        let b = profile(json!({"given_name": "Amina", "family_name": "Nakato",
            "date_of_birth": "1994-01-02", "nationality": "UGA", "sex": "female"}));
        assert!(!shares_block(&a, &b), "the birth year is part of the block");
        assert!(score(&a, &b).0 < MIN_CANDIDATE_SCORE);
        let c = profile(json!({"given_name": "Grace", "family_name": "Achieng",
            "date_of_birth": "1990-05-12", "nationality": "UGA", "sex": "female"}));
        assert!(score(&a, &c).0 < MIN_CANDIDATE_SCORE);
    }

    #[test]
    fn a_shared_document_blocks_across_nationality_typos() {
        let a = profile(json!({"given_name": "Olga", "family_name": "Kovalenko",
            "nationality": "UKR", "document_numbers": [{"type": "passport", "number": "FA 123456"}]}));
        let b = profile(json!({"given_name": "Ольга", "family_name": "Коваленко",
            "nationality": "MDA", "document_numbers": [{"type": "passport", "number": "fa123456"}]}));
        assert!(shares_block(&a, &b));
        assert!(score(&a, &b).0 >= MIN_CANDIDATE_SCORE);
    }

    #[test]
    fn tokens_depend_on_the_key() {
        let case = case_of(json!({"given_name": "Amina"}));
        let one = MatchProfile::of_case(&case, &Sealer::from_key(&[1; 32])).unwrap();
        let two = MatchProfile::of_case(&case, &Sealer::from_key(&[2; 32])).unwrap();
        assert_ne!(one.name_tokens, two.name_tokens);
        assert!(MatchProfile::of_case(&Case::default(), &Sealer::from_key(&[1; 32])).is_none());
    }
}
