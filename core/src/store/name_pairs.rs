//! Blind-index tokens for two words of one name, so a two-word search ("Amina Okello",
//! "okello amina", "Amina Oke") reads one short index list instead of intersecting two long
//! ones.
//!
//! A caseworker looking for a person types a given name and a family name. Each word alone is
//! shared by thousands of cases in a large caseload, and intersecting two such lists costs a
//! lookup per case of the shorter one; the pair is shared by few. So each *full name* — the
//! given and family names together, or one of the other names — is also indexed by pairs of
//! its words, like the single words (keyed HMACs, [`IndexKind`]), three ways:
//!
//! - [`IndexKind::NamePair`]: two distinct words as spelled, in either order (the exact tier);
//! - [`IndexKind::NamePairAlike`]: two distinct name tokens (folded words and joined runs), in
//!   either order (the alike tier: "Mohamed alhassan" finds "Mohammed Al-Hassan");
//! - [`IndexKind::NamePairPrefix`]: a folded word with the first [`PAIR_PREFIX_CHARS`] letters of
//!   *another* word of the same name (another place in it: "Nguyen Nguyen" pairs its two
//!   words): the search-as-you-type tier. A longer typed prefix is checked on the unsealed
//!   summary.
//!
//! What it does not do: pair a word of the given name with a word of an *other* name (two words
//! typed together are looked for in one full name), or pair more than [`MAX_PAIR_WORDS`] words
//! of one name (a long name still matches its first words).

use crate::crypto::{IndexKind, Token, TokenHasher};
use crate::normalize;
use std::collections::BTreeSet;

/// Letters of a word in a prefix pair. The shortest prefix searched for; a longer one is
/// checked on the summary, since each further length would add tokens per word pair.
pub(crate) const PAIR_PREFIX_CHARS: usize = super::search::MIN_PREFIX_CHARS;

/// Most words (and, separately, name tokens) of one full name that are paired. Names rarely
/// have more than five words; eight bounds the tokens of a pathological one to a few dozen.
const MAX_PAIR_WORDS: usize = 8;

/// The value hashed for an unordered pair: the two in sorted order, so either order of typing
/// gives the same token. Words and tokens are ASCII letters and digits, so a space separates.
pub(crate) fn unordered(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a} {b}")
    } else {
        format!("{b} {a}")
    }
}

/// The value hashed for a prefix pair: a folded word and the start of a spelled word.
pub(crate) fn with_prefix(folded: &str, word: &str) -> String {
    format!("{folded} {}", &word[..PAIR_PREFIX_CHARS.min(word.len())])
}

/// Distinct items, in order, at most [`MAX_PAIR_WORDS`].
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if out.len() == MAX_PAIR_WORDS {
            break;
        }
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// One part of a full name (a given name, a family name, an other name), normalized once.
pub(crate) struct NameParts {
    /// [`normalize::name_words`] of the part.
    pub words: Vec<String>,
    /// [`normalize::name_tokens`] of the part.
    pub alike: Vec<String>,
}

/// Adds the pair tokens of one full name (its parts, e.g. given and family name) to `tokens`.
pub(crate) fn add_pair_tokens(
    hasher: &TokenHasher,
    parts: &[NameParts],
    tokens: &mut BTreeSet<Token>,
) {
    // Words in order, repeats kept: a prefix pairs a word with another place in the name.
    let placed: Vec<&String> = parts
        .iter()
        .flat_map(|p| &p.words)
        .filter(|w| w.len() >= normalize::MIN_WORD_TOKEN_CHARS)
        .take(MAX_PAIR_WORDS)
        .collect();
    let spelled = distinct(placed.iter().map(|w| w.as_str()));
    let alike = distinct(parts.iter().flat_map(|p| &p.alike).map(String::as_str));
    let mut add = |kind, value: &str| {
        tokens.insert(hasher.token(kind, value));
    };
    for (i, a) in spelled.iter().enumerate() {
        for b in &spelled[i + 1..] {
            add(IndexKind::NamePair, &unordered(a, b));
        }
    }
    for (i, a) in alike.iter().enumerate() {
        for b in &alike[i + 1..] {
            add(IndexKind::NamePairAlike, &unordered(a, b));
        }
    }
    // A spelled word is one word of at least the token length: folding it gives its key.
    let folded: Vec<String> = placed.iter().map(|w| normalize::fold_word(w)).collect();
    for (i, key) in folded.iter().enumerate() {
        for (j, word) in placed.iter().enumerate() {
            if i != j && word.len() >= PAIR_PREFIX_CHARS {
                add(IndexKind::NamePairPrefix, &with_prefix(key, word));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_the_same_in_either_order() {
        assert_eq!(unordered("okello", "amina"), unordered("amina", "okello"));
        assert_ne!(unordered("ab", "c"), unordered("a", "bc"));
        assert_eq!(with_prefix("amina", "okello"), "amina oke");
        assert_eq!(with_prefix("amina", "ok"), "amina ok");
    }
}
