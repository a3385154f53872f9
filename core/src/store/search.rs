//! Search by name, phone and document number through keyed blind-index tokens, answered with
//! case summaries.
//!
//! The index holds only HMACs of normalized values under a key derived from the data key, so
//! the database file reveals neither the values nor which records share one to anyone without
//! the key. Normalization ([`crate::normalize`]) folds case, diacritics, scripts and common
//! transliteration differences, so "Mohammed" finds "Muhammad".
//!
//! Each name word is indexed three ways: as spelled (after case, diacritic and script folding),
//! phonetically folded (with runs of adjacent words joined), and by its first
//! [`MIN_PREFIX_CHARS`] to [`MAX_PREFIX_CHARS`] letters. A name query is answered in tiers —
//! every word spelled the same ([`MatchKind::Exact`]), every word alike
//! ([`MatchKind::Phonetic`]), the last word a prefix of a name word ([`MatchKind::Prefix`],
//! search as you type) — newest case first within a tier, at most [`MAX_SEARCH_RESULTS`] in
//! all. Results are [`CaseSummary`]s, unsealed from their own rows: no case is unsealed.
//!
//! Two words ("Amina Okello", either order, the second perhaps still being typed) are looked
//! up as a pair of words of one full name ([`super::name_pairs`]): one short list per tier
//! rather than an intersection of two long ones, which is what keeps a common given name with
//! a common family name at typing speed. More words are intersected, shortest list first.
//!
//! What it does not do: find a name by a word's middle or end, find a phone or document
//! number by part of it, or rank by how many of a case's words matched.

use super::error::{Result, StoreError};
use super::name_pairs::{self, NameParts, PAIR_PREFIX_CHARS};
use super::summary::{read_summary, CaseSummary};
use super::Store;
use crate::crypto::{IndexKey, IndexKind, StoreKeys, Token};
use crate::ids::RecordId;
use crate::merge::{FieldState, RecordState};
use crate::normalize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Reads present values straight from a record's field states, without copying them.
struct FieldValues<'a>(&'a BTreeMap<String, FieldState>);

impl FieldValues<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).map(|f| &f.value).filter(|v| !v.is_null())
    }
}

/// What to look for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchQuery {
    /// Any part of a name: every word must match a name of the case. Unless the text ends
    /// with a space, its last word may be the start of a name word (typing in progress).
    Name(String),
    Phone(String),
    Document(String),
}

/// How a result matched its query; results come best match first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// Every word spelled as in the case (after case, diacritic and script folding), or the
    /// phone or document number itself.
    Exact,
    /// Every word alike after transliteration folding ("Muhammad" for "Mohammed").
    Phonetic,
    /// The last word is the start of one of the case's names.
    Prefix,
}

/// One search result: a case's summary and how it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub summary: CaseSummary,
    pub matched: MatchKind,
}

/// Most results one search returns; a caseworker refines a query rather than scroll.
pub const MAX_SEARCH_RESULTS: usize = 50;

/// Shortest prefix indexed and looked up. Two letters would be shared by a large part of any
/// caseload (a lookup as slow as a scan, and a token that says little), and a caseworker has
/// usually typed three letters before looking at results.
pub const MIN_PREFIX_CHARS: usize = 3;

/// Longest prefix indexed. Past five letters a prefix nearly always names one name, so longer
/// typed prefixes are looked up by their first five letters and checked against the unsealed
/// summaries; each further length would add a token per word to every case.
pub const MAX_PREFIX_CHARS: usize = 5;

/// The fields a case's index tokens come from: nothing else of the case changes them.
pub(crate) const INDEXED_FIELDS: [&str; 5] = [
    "given_name",
    "family_name",
    "other_names",
    "phone",
    "document_numbers",
];

/// The part of a case's state its index tokens come from ([`INDEXED_FIELDS`]): what a
/// thread making tokens beside the store needs of a case, without the rest of it.
pub(crate) fn indexed_part(state: &RecordState) -> RecordState {
    let mut part = RecordState::new(state.kind);
    for field in INDEXED_FIELDS {
        if let Some(value) = state.fields.get(field) {
            part.fields.insert(field.to_owned(), value.clone());
        }
    }
    part
}

/// The index tokens of a case's identifying values.
pub(crate) fn index_tokens(keys: &StoreKeys, state: &RecordState) -> BTreeSet<Token> {
    index_tokens_under(&keys.index, state)
}

/// [`index_tokens`] under the index key alone.
pub(crate) fn index_tokens_under(key: &IndexKey, state: &RecordState) -> BTreeSet<Token> {
    let values = FieldValues(&state.fields);
    let hasher = key.hasher();
    let mut tokens = BTreeSet::new();
    // Each name normalized once: its words as spelled and its tokens feed both the single-word
    // and the pair tokens.
    let name_of = |text: &str| {
        let words = normalize::name_words(text);
        let alike = normalize::name_tokens_of_words(&words);
        NameParts { words, alike }
    };
    let full_name: Vec<NameParts> = ["given_name", "family_name"]
        .into_iter()
        .filter_map(|key| values.get(key).and_then(Value::as_str))
        .map(name_of)
        .collect();
    let others: Vec<NameParts> = match values.get("other_names") {
        Some(Value::Array(others)) => others
            .iter()
            .filter_map(Value::as_str)
            .map(name_of)
            .collect(),
        _ => Vec::new(),
    };
    for name in full_name.iter().chain(&others) {
        for token in &name.alike {
            tokens.insert(hasher.token(IndexKind::Name, token));
        }
        for word in &name.words {
            if word.len() >= normalize::MIN_WORD_TOKEN_CHARS {
                tokens.insert(hasher.token(IndexKind::NameSpelling, word));
            }
            for len in MIN_PREFIX_CHARS..=word.len().min(MAX_PREFIX_CHARS) {
                tokens.insert(hasher.token(IndexKind::NamePrefix, &word[..len]));
            }
        }
    }
    name_pairs::add_pair_tokens(&hasher, &full_name, &mut tokens);
    for other in others {
        name_pairs::add_pair_tokens(&hasher, &[other], &mut tokens);
    }
    if let Some(phone) = values
        .get("phone")
        .and_then(Value::as_str)
        .and_then(normalize::phone)
    {
        tokens.insert(hasher.token(IndexKind::Phone, &phone));
    }
    if let Some(Value::Array(documents)) = values.get("document_numbers") {
        for number in documents
            .iter()
            .filter_map(|d| d.get("number"))
            .filter_map(Value::as_str)
        {
            if let Some(number) = normalize::document_number(number) {
                tokens.insert(hasher.token(IndexKind::Document, &number));
            }
        }
    }
    tokens
}

/// The most specific key of a run of words: all of them joined (the longest token), which
/// the index holds for the run however the words were separated ("Al-Hassan", "Al Hassan",
/// "Alhassan").
fn joined_key(words: &str) -> Option<String> {
    normalize::name_tokens(words)
        .into_iter()
        .max_by_key(String::len)
}

/// One tier of a query: the cases holding every token of any alternative, all matching as
/// `matched`.
struct Tier {
    matched: MatchKind,
    alternatives: Vec<Vec<Token>>,
    /// A typed prefix longer than the index holds: a case matches only if one of its name
    /// words starts with it, checked on the unsealed summary.
    prefix_check: Option<String>,
}

/// The tiers of a query, best first. A tier without alternatives matches nothing.
fn plan_query(keys: &StoreKeys, query: &SearchQuery) -> Vec<Tier> {
    let token = |kind, value: &str| keys.index.token(kind, value);
    let exact = |tokens: Vec<Token>| Tier {
        matched: MatchKind::Exact,
        alternatives: vec![tokens],
        prefix_check: None,
    };
    match query {
        SearchQuery::Name(text) => {
            let words = normalize::name_words(text);
            let spelled_words: Vec<&String> = words
                .iter()
                .filter(|w| w.len() >= normalize::MIN_WORD_TOKEN_CHARS)
                .collect();
            // Two distinct words are one list of pairs (module `name_pairs`), not two lists
            // to intersect.
            let spelled: Vec<Token> = match spelled_words[..] {
                [a, b] if a != b => vec![token(IndexKind::NamePair, &name_pairs::unordered(a, b))],
                _ => spelled_words
                    .iter()
                    .map(|w| token(IndexKind::NameSpelling, w))
                    .collect(),
            };
            // Every word typed must be like a name part...
            let word_keys: Vec<String> = text.split_whitespace().filter_map(joined_key).collect();
            let per_word: Vec<Token> = match &word_keys[..] {
                [a, b] if a != b => {
                    vec![token(
                        IndexKind::NamePairAlike,
                        &name_pairs::unordered(a, b),
                    )]
                }
                _ => word_keys
                    .iter()
                    .map(|k| token(IndexKind::Name, k))
                    .collect(),
            };
            let mut alike = vec![per_word];
            // ...or the words together are one name written apart ("Abd al Rahman").
            if text.split_whitespace().nth(1).is_some() {
                if let Some(joined) = joined_key(text) {
                    alike.push(vec![token(IndexKind::Name, &joined)]);
                }
            }
            let mut tiers = vec![
                exact(spelled),
                Tier {
                    matched: MatchKind::Phonetic,
                    alternatives: alike,
                    prefix_check: None,
                },
            ];
            let typing = !text.ends_with(char::is_whitespace);
            if let Some((last, before)) = words.split_last().filter(|_| typing) {
                let before_keys: Vec<String> =
                    before.iter().filter_map(|w| joined_key(w)).collect();
                if let ([key], true) = (&before_keys[..], last.len() >= MIN_PREFIX_CHARS) {
                    // A word and a prefix: one list of prefix pairs, the rest of a longer
                    // prefix checked on the summary.
                    tiers.push(Tier {
                        matched: MatchKind::Prefix,
                        alternatives: vec![vec![token(
                            IndexKind::NamePairPrefix,
                            &name_pairs::with_prefix(key, last),
                        )]],
                        prefix_check: (last.len() > PAIR_PREFIX_CHARS).then(|| last.clone()),
                    });
                } else if last.len() >= MIN_PREFIX_CHARS {
                    let mut tokens: Vec<Token> = before_keys
                        .iter()
                        .map(|k| token(IndexKind::Name, k))
                        .collect();
                    let indexed = &last[..last.len().min(MAX_PREFIX_CHARS)];
                    tokens.push(token(IndexKind::NamePrefix, indexed));
                    tiers.push(Tier {
                        matched: MatchKind::Prefix,
                        alternatives: vec![tokens],
                        prefix_check: (last.len() > MAX_PREFIX_CHARS).then(|| last.clone()),
                    });
                }
            }
            tiers
        }
        SearchQuery::Phone(raw) => vec![exact(
            normalize::phone(raw)
                .map(|p| token(IndexKind::Phone, &p))
                .into_iter()
                .collect(),
        )],
        SearchQuery::Document(raw) => vec![exact(
            normalize::document_number(raw)
                .map(|d| token(IndexKind::Document, &d))
                .into_iter()
                .collect(),
        )],
    }
}

/// Whether one of a case's name words starts with `prefix` (a normalized word).
fn has_word_starting_with(summary: &CaseSummary, prefix: &str) -> bool {
    summary
        .names()
        .flat_map(normalize::name_words)
        .any(|word| word.starts_with(prefix))
}

/// The index lists one search reads, newest first. A whole single-token list (a tier checked
/// in the clear) is read at most once per search, however many tiers use it.
struct Postings<'s> {
    store: &'s Store,
    read: HashMap<Token, Vec<RecordId>>,
}

impl Postings<'_> {
    /// The whole list of a token.
    fn all(&mut self, token: &Token) -> Result<&[RecordId]> {
        if !self.read.contains_key(token) {
            let ids = self.store.posting(token, None)?;
            self.read.insert(*token, ids);
        }
        Ok(&self.read[token])
    }

    /// Ids holding every token, newest first, at most `enough` when that is given; none for no
    /// tokens. Several tokens are intersected inside SQLite, driven by the shortest list.
    fn with_all(&mut self, tokens: &[Token], enough: Option<usize>) -> Result<Vec<RecordId>> {
        match tokens {
            [] => Ok(Vec::new()),
            [only] => match (self.read.get(only), enough) {
                (None, Some(enough)) => self.store.posting(only, Some(enough)),
                _ => Ok(self.all(only)?.to_vec()),
            },
            _ => {
                // Count each list up to a few hundred rows (cheap inside SQLite): a word that
                // matches nothing empties the tier, and the shortest list drives.
                let mut sized = Vec::with_capacity(tokens.len());
                for token in tokens {
                    let rows = self.store.posting_len(token)?;
                    if rows == 0 {
                        return Ok(Vec::new());
                    }
                    sized.push((rows, *token));
                }
                sized.sort_by_key(|(rows, _)| *rows);
                let ordered: Vec<Token> = sized.into_iter().map(|(_, token)| token).collect();
                self.store.intersection(&ordered, enough)
            }
        }
    }
}

/// Rows of an index list counted when choosing which list of an intersection drives: enough to
/// tell a rare word from a common one, few enough that counting stays in the microseconds.
const SIZE_CHECK_ROWS: i64 = 512;

impl Store {
    /// Finds cases by name, phone or document number: at most [`MAX_SEARCH_RESULTS`] summaries,
    /// best match first, then newest first. Unseals summaries only, never a whole case.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>> {
        let keys = self.keys()?;
        let mut postings = Postings {
            store: self,
            read: HashMap::new(),
        };
        let mut hits = Vec::new();
        let mut shown = HashSet::new();
        for tier in plan_query(keys, query) {
            if hits.len() >= MAX_SEARCH_RESULTS {
                break;
            }
            // A tier needs at most the results still wanted plus those shown already; a tier
            // checked in the clear may need any number.
            let enough = tier
                .prefix_check
                .is_none()
                .then_some(MAX_SEARCH_RESULTS - hits.len() + shown.len());
            let mut ids = Vec::new();
            for tokens in &tier.alternatives {
                ids.extend(postings.with_all(tokens, enough)?);
            }
            if tier.alternatives.len() > 1 {
                ids.sort_unstable_by(|a, b| b.cmp(a));
                ids.dedup();
            }
            for id in ids {
                if hits.len() >= MAX_SEARCH_RESULTS {
                    break;
                }
                if !shown.insert(id) {
                    continue;
                }
                // An index row without its case means the file was damaged.
                let summary = read_summary(&self.conn, keys, &id)?.ok_or(StoreError::Corrupt)?;
                if let Some(prefix) = &tier.prefix_check {
                    if !has_word_starting_with(&summary, prefix) {
                        continue;
                    }
                }
                hits.push(SearchHit {
                    summary,
                    matched: tier.matched,
                });
            }
        }
        Ok(hits)
    }

    /// Rows of a token's list, counted up to [`SIZE_CHECK_ROWS`].
    fn posting_len(&self, token: &Token) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM search_index WHERE token = ?1 LIMIT ?2)",
            )?
            .query_row(rusqlite::params![&token[..], SIZE_CHECK_ROWS], |row| {
                row.get(0)
            })?)
    }

    /// Ids of the records holding every token (two or more), newest first, at most `limit`.
    /// SQLite walks the first token's list newest first and looks each id up in the others'
    /// (primary-key probes), stopping at the limit: the work follows the first list, so
    /// callers put the shortest first.
    fn intersection(&self, tokens: &[Token], limit: Option<usize>) -> Result<Vec<RecordId>> {
        let mut sql = String::from("SELECT a.record_id FROM search_index a WHERE a.token = ?1");
        for n in 2..=tokens.len() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM search_index b WHERE b.token = ?{n} AND b.record_id = a.record_id)"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY a.record_id DESC LIMIT ?{}",
            tokens.len() + 1
        ));
        let mut params: Vec<rusqlite::types::Value> = tokens
            .iter()
            .map(|t| rusqlite::types::Value::Blob(t.to_vec()))
            .collect();
        params.push(rusqlite::types::Value::Integer(
            limit.map_or(-1, |l| l as i64),
        ));
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            ids.push(id_of(row)?);
        }
        Ok(ids)
    }

    /// Ids of the records holding one token, newest first (UUIDv7 ids sort by creation
    /// time), at most `limit` of them.
    fn posting(&self, token: &Token, limit: Option<usize>) -> Result<Vec<RecordId>> {
        let limit = limit.map_or(-1, |l| l as i64);
        let mut statement = self.conn.prepare_cached(
            "SELECT record_id FROM search_index WHERE token = ?1 ORDER BY record_id DESC LIMIT ?2",
        )?;
        let mut rows = statement.query(rusqlite::params![&token[..], limit])?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            ids.push(id_of(row)?);
        }
        Ok(ids)
    }
}

/// The record id in a row's first column; anything else means the file was damaged.
fn id_of(row: &rusqlite::Row<'_>) -> Result<RecordId> {
    let bytes: [u8; 16] = row
        .get_ref(0)?
        .as_blob()
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(StoreError::Corrupt)?;
    Ok(RecordId::from_bytes(bytes))
}
