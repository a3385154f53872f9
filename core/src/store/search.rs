//! Search by name, phone and document number through keyed blind-index tokens.
//!
//! The index holds only HMACs of normalized values under a key derived from the data key, so
//! the database file reveals neither the values nor which records share one to anyone without
//! the key. Normalization ([`crate::normalize`]) folds case, diacritics, scripts and common
//! transliteration differences, so "Mohammed" finds "Muhammad".

use super::cases::CaseRecord;
use super::error::Result;
use super::Store;
use crate::crypto::{IndexKind, StoreKeys, Token};
use crate::ids::RecordId;
use crate::merge::{FieldState, RecordState};
use crate::normalize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

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
    /// Any part of a name: every word must match a name of the case.
    Name(String),
    Phone(String),
    Document(String),
}

/// Most results one search returns; a caseworker refines a query rather than scroll.
pub const MAX_SEARCH_RESULTS: usize = 50;

/// The index tokens of a case's identifying values.
pub(crate) fn index_tokens(keys: &StoreKeys, state: &RecordState) -> BTreeSet<Token> {
    let values = FieldValues(&state.fields);
    let mut tokens = BTreeSet::new();
    let mut add_names = |text: &str| {
        for token in normalize::name_tokens(text) {
            tokens.insert(keys.index.token(IndexKind::Name, &token));
        }
    };
    for key in ["given_name", "family_name"] {
        if let Some(text) = values.get(key).and_then(Value::as_str) {
            add_names(text);
        }
    }
    if let Some(Value::Array(others)) = values.get("other_names") {
        others
            .iter()
            .filter_map(Value::as_str)
            .for_each(&mut add_names);
    }
    if let Some(phone) = values
        .get("phone")
        .and_then(Value::as_str)
        .and_then(normalize::phone)
    {
        tokens.insert(keys.index.token(IndexKind::Phone, &phone));
    }
    if let Some(Value::Array(documents)) = values.get("document_numbers") {
        for number in documents
            .iter()
            .filter_map(|d| d.get("number"))
            .filter_map(Value::as_str)
        {
            if let Some(number) = normalize::document_number(number) {
                tokens.insert(keys.index.token(IndexKind::Document, &number));
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

/// Alternative token sets for a query; a case matches when it has every token of any set.
fn query_alternatives(keys: &StoreKeys, query: &SearchQuery) -> Vec<Vec<Token>> {
    let token = |kind, value: &str| keys.index.token(kind, value);
    match query {
        SearchQuery::Name(text) => {
            // Every word typed must match a name part...
            let per_word: Vec<Token> = text
                .split_whitespace()
                .filter_map(joined_key)
                .map(|k| token(IndexKind::Name, &k))
                .collect();
            let mut alternatives = vec![per_word];
            // ...or the words together are one name written apart ("Abd al Rahman").
            if text.split_whitespace().nth(1).is_some() {
                if let Some(joined) = joined_key(text) {
                    alternatives.push(vec![token(IndexKind::Name, &joined)]);
                }
            }
            alternatives
        }
        SearchQuery::Phone(raw) => vec![normalize::phone(raw)
            .map(|p| token(IndexKind::Phone, &p))
            .into_iter()
            .collect()],
        SearchQuery::Document(raw) => {
            vec![normalize::document_number(raw)
                .map(|d| token(IndexKind::Document, &d))
                .into_iter()
                .collect()]
        }
    }
}

impl Store {
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<CaseRecord>> {
        let keys = self.keys()?;
        let mut found = BTreeSet::new();
        for tokens in query_alternatives(keys, query) {
            found.extend(self.records_with_all(&tokens)?);
        }
        // UUIDv7 ids sort by creation time; newest first.
        found
            .iter()
            .rev()
            .take(MAX_SEARCH_RESULTS)
            .map(|id| self.get_case(id))
            .collect()
    }

    /// Records holding every token; none for an empty token list.
    fn records_with_all(&self, tokens: &[Token]) -> Result<BTreeSet<RecordId>> {
        let mut lookup = self
            .conn
            .prepare_cached("SELECT record_id FROM search_index WHERE token = ?1")?;
        let mut matches: Option<BTreeSet<RecordId>> = None;
        for token in tokens {
            let ids: BTreeSet<RecordId> = lookup
                .query_map([&token[..]], |row| row.get::<_, Vec<u8>>(0))?
                .filter_map(|id| {
                    id.ok()
                        .and_then(|b| b.try_into().ok())
                        .map(RecordId::from_bytes)
                })
                .collect();
            let narrowed = match matches {
                None => ids,
                Some(so_far) => so_far.intersection(&ids).copied().collect(),
            };
            if narrowed.is_empty() {
                return Ok(narrowed);
            }
            matches = Some(narrowed);
        }
        Ok(matches.unwrap_or_default())
    }
}
