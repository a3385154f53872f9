//! The fields an unknown key is close to, for "not a field of this record; did you mean …?".
//!
//! Someone writing a case file by hand, or a script converting an old database, uses the
//! names they know: `gender`, `dob`, `surname`, `nationalty`. The suggestions, best first, at
//! most [`MAX_NEAR_KEYS`], each a field of the record being read:
//!
//! 1. fields the key is a common other name for ([`OTHER_NAMES`]: `gender` → `sex`);
//! 2. fields spelled alike (Jaro–Winkler of at least [`NEAR_KEY_SIMILARITY`]: a dropped
//!    letter, a swapped pair), most alike first;
//! 3. fields the key is a whole part of (`birth` → `date_of_birth`, `country` →
//!    `country_of_assistance`), or that are a whole part of the key (`case_nationality`).
//!
//! Only keys, never values, go in: the caller checks the key looks like one first.

/// Most fields suggested for one unknown key: enough for `country` (three country fields),
/// few enough to read at a glance.
pub const MAX_NEAR_KEYS: usize = 3;

/// How alike an unknown key and a field key must be (Jaro–Winkler on the lowercased key) to
/// be offered: high enough that `gender` does not suggest `sex`'s neighbours at random, low
/// enough to catch a dropped letter or a swapped pair (`natonality`, `date_of_brith`).
const NEAR_KEY_SIMILARITY: f64 = 0.88;

/// Shortest key looked for as a part of a field key: `id` or `no` would be part of too many.
const MIN_PART_CHARS: usize = 3;

/// Common other names of fields (folded: lowercase letters and digits only), with the fields
/// they may mean. The spreadsheet import's recognised headers say the same in more languages
/// (`spreadsheet::mapping`); these are the ones people type as JSON keys.
const OTHER_NAMES: &[(&str, &[&str])] = &[
    ("gender", &["sex"]),
    ("dob", &["date_of_birth"]),
    ("birthdate", &["date_of_birth"]),
    ("birthday", &["date_of_birth"]),
    ("firstname", &["given_name"]),
    ("forename", &["given_name"]),
    ("lastname", &["family_name"]),
    ("surname", &["family_name"]),
    ("name", &["given_name", "family_name", "other_names"]),
    ("fullname", &["given_name", "family_name"]),
    ("alias", &["other_names"]),
    ("aliases", &["other_names"]),
    ("age", &["age_estimate", "date_of_birth"]),
    ("telephone", &["phone"]),
    ("phonenumber", &["phone"]),
    ("mobile", &["phone"]),
    ("tel", &["phone"]),
    ("passport", &["document_numbers"]),
    ("passportnumber", &["document_numbers"]),
    ("documentnumber", &["document_numbers"]),
    ("documents", &["document_numbers"]),
    ("idnumber", &["document_numbers"]),
    ("nationalid", &["document_numbers"]),
    ("citizenship", &["nationality"]),
    ("countryoforigin", &["nationality"]),
    (
        "country",
        &[
            "nationality",
            "country_of_assistance",
            "country_of_destination",
        ],
    ),
    ("category", &["categories"]),
    ("program", &["programme"]),
    ("registrationdate", &["intake_date"]),
    ("dateofintake", &["intake_date"]),
    (
        "consent",
        &[
            "consent.assistance",
            "consent.data_sharing",
            "consent.research",
        ],
    ),
];

/// The fields of `known` that `key` is close to, best first, at most [`MAX_NEAR_KEYS`]; empty
/// when none is.
pub fn near_keys(key: &str, known: &[&'static str]) -> Vec<&'static str> {
    let wanted = key.to_ascii_lowercase().replace(['-', ' '], "_");
    let folded: String = wanted.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut out: Vec<&'static str> = Vec::new();
    let mut offer = |field: &'static str| {
        if out.len() < MAX_NEAR_KEYS && !out.contains(&field) && field != wanted {
            out.push(field);
        }
    };
    for (_, fields) in OTHER_NAMES.iter().filter(|(name, _)| *name == folded) {
        for field in *fields {
            if let Some(known) = known.iter().find(|k| *k == field) {
                offer(known);
            }
        }
    }
    let mut alike: Vec<(f64, &'static str)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(&wanted, k), *k))
        .filter(|(similarity, _)| *similarity >= NEAR_KEY_SIMILARITY)
        .collect();
    alike.sort_by(|a, b| b.0.total_cmp(&a.0));
    alike.into_iter().for_each(|(_, k)| offer(k));
    let parts = |text: &str| -> Vec<String> {
        text.split(['_', '.'])
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let wanted_parts = parts(&wanted);
    if wanted.len() >= MIN_PART_CHARS {
        for field in known {
            let field_parts = parts(field);
            let key_in_field = field_parts
                .windows(wanted_parts.len().max(1))
                .any(|w| w == wanted_parts.as_slice());
            let field_in_key = wanted_parts
                .windows(field_parts.len().max(1))
                .any(|w| w == field_parts.as_slice());
            if key_in_field || field_in_key {
                offer(field);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::keys::CASE_KEYS;

    #[test]
    fn other_names_misspellings_and_parts_suggest_fields() {
        assert_eq!(near_keys("gender", &CASE_KEYS), ["sex"]);
        assert_eq!(near_keys("DOB", &CASE_KEYS), ["date_of_birth"]);
        assert_eq!(near_keys("Surname", &CASE_KEYS), ["family_name"]);
        assert_eq!(near_keys("natonality", &CASE_KEYS), ["nationality"]);
        assert_eq!(near_keys("birth", &CASE_KEYS), ["date_of_birth"]);
        assert_eq!(near_keys("case_nationality", &CASE_KEYS)[0], "nationality");
        assert_eq!(
            near_keys("country", &CASE_KEYS),
            [
                "nationality",
                "country_of_assistance",
                "country_of_destination"
            ]
        );
        assert!(near_keys("favourite_colour", &CASE_KEYS).is_empty());
    }

    #[test]
    fn only_fields_of_the_record_are_offered() {
        assert!(near_keys("gender", &["given_name", "family_name"]).is_empty());
        assert!(near_keys("name", &["given_name"]) == ["given_name"]);
    }
}
