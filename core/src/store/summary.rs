//! Case summaries: the few fields a list or a search result shows, sealed on their own row so
//! lists and searches never unseal whole cases.
//!
//! What it guarantees:
//! - Every case row has exactly one summary row in `case_summaries`, sealed with the data key
//!   and bound by associated data to the case's id (a summary copied onto another case fails to
//!   open). It is written in the same transaction as every change of the case's state or owner
//!   ([`Store::write_record`], [`Store::refresh_case_owners`]); a trigger deletes it with the
//!   case row, so nothing that removes a case can leave its summary behind.
//! - A summary holds the id, names (given, family, other), sex, date of birth, nationality,
//!   intake date, status and owner agency — nothing else of the case.
//! - Stores created before summaries existed get them built by the migration step that adds
//!   the table ([`rebuild_search_data`]), which also adds the index tokens of newer kinds.
//!
//! What it does not do: decide what matches a search (`search.rs`), or validate a case: a
//! summary is taken from whatever the merged state holds, valid or not.

use super::error::{Result, StoreError};
use super::search::index_tokens;
use super::Store;
use crate::crypto::{Aad, StoreKeys};
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::merge::RecordState;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a list or search result shows of a case. Built from the case's merged state and the
/// owner agency recorded for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Not in the sealed bytes (the row's key and the associated data carry it).
    #[serde(skip, default = "nil_id")]
    pub id: RecordId,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(rename = "o", default, skip_serializing_if = "Vec::is_empty")]
    pub other_names: Vec<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, as recorded.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// ISO 3166-1 alpha-3.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub intake_date: Option<String>,
    #[serde(rename = "t")]
    pub status: String,
    #[serde(rename = "a")]
    pub owner_agency: String,
}

fn nil_id() -> RecordId {
    RecordId::from_bytes([0; 16])
}

impl std::fmt::Debug for CaseSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and dates of birth are personal data; only what is not is shown.
        f.debug_struct("CaseSummary")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("owner_agency", &self.owner_agency)
            .finish_non_exhaustive()
    }
}

impl CaseSummary {
    /// The summary of a case's merged state.
    pub(crate) fn of(id: RecordId, state: &RecordState, owner_agency: &str) -> CaseSummary {
        let value = |key: &str| state.fields.get(key).map(|f| &f.value);
        let text = |key: &str| value(key).and_then(Value::as_str).map(str::to_owned);
        let other_names = match value("other_names") {
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        CaseSummary {
            id,
            given_name: text("given_name"),
            family_name: text("family_name"),
            other_names,
            sex: text("sex"),
            date_of_birth: text("date_of_birth"),
            nationality: text("nationality"),
            intake_date: text("intake_date"),
            status: text("status").unwrap_or_else(|| "open".to_owned()),
            owner_agency: owner_agency.to_owned(),
        }
    }

    /// Given and family name, or `None` for an anonymous case.
    pub fn display_name(&self) -> Option<String> {
        let name = [&self.given_name, &self.family_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Every name of the case, for checking a search's words in the clear.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.given_name
            .iter()
            .chain(&self.family_name)
            .chain(&self.other_names)
            .map(String::as_str)
    }
}

fn summary_aad(id: &RecordId) -> Aad<'_> {
    Aad {
        table: "case_summaries",
        record: id.as_bytes(),
        part: "summary",
    }
}

/// Seals and writes (or replaces) a case's summary inside the caller's transaction.
pub(crate) fn write_summary(
    conn: &Connection,
    keys: &StoreKeys,
    summary: &CaseSummary,
) -> Result<()> {
    let plain = serde_json::to_vec(summary).expect("summaries serialize");
    let sealed = keys.seal.seal(summary_aad(&summary.id), &plain);
    conn.prepare_cached(
        "INSERT INTO case_summaries (id, summary) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET summary = excluded.summary",
    )?
    .execute(params![&summary.id.as_bytes()[..], sealed])?;
    Ok(())
}

/// Reads and unseals one case's summary; `None` when the store holds no such case.
pub(crate) fn read_summary(
    conn: &Connection,
    keys: &StoreKeys,
    id: &RecordId,
) -> Result<Option<CaseSummary>> {
    let sealed: Option<Vec<u8>> = conn
        .prepare_cached("SELECT summary FROM case_summaries WHERE id = ?1")?
        .query_row([&id.as_bytes()[..]], |row| row.get(0))
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let integrity = || StoreError::Integrity {
        table: "case_summaries",
        record: id.to_string(),
    };
    let plain = keys
        .seal
        .open(summary_aad(id), &sealed)
        .map_err(|_| integrity())?;
    let mut summary: CaseSummary = serde_json::from_slice(&plain).map_err(|_| integrity())?;
    summary.id = *id;
    Ok(Some(summary))
}

/// Builds the summary and index tokens of every case, inside the migration's transaction: for
/// stores written before summaries (or before an index token kind) existed. Tokens already
/// present are kept; summaries are replaced.
pub(crate) fn rebuild_search_data(conn: &Connection, keys: &StoreKeys) -> Result<()> {
    let ids: Vec<Vec<u8>> = conn
        .prepare("SELECT id FROM records WHERE kind = 'case'")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut insert_token =
        conn.prepare("INSERT OR IGNORE INTO search_index (token, record_id) VALUES (?1, ?2)")?;
    for bytes in ids {
        let id = RecordId::from_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt)?);
        let record = Store::load_record(conn, keys, &id)?.ok_or(StoreError::Corrupt)?;
        write_summary(
            conn,
            keys,
            &CaseSummary::of(id, &record.state, &record.owner_agency),
        )?;
        for token in index_tokens(keys, &record.state) {
            insert_token.execute(params![&token[..], &id.as_bytes()[..]])?;
        }
    }
    Ok(())
}

impl Store {
    /// The summary of one case, unsealing only the summary.
    pub fn case_summary(&self, id: &RecordId) -> Result<CaseSummary> {
        let keys = self.keys()?;
        read_summary(&self.conn, keys, id)?.ok_or(StoreError::NoSuchRecord {
            kind: RecordKind::Case,
            id: *id,
        })
    }

    /// Summaries of cases, most recently changed first, optionally with one status: what a
    /// case list shows, without unsealing whole cases.
    pub fn list_case_summaries(
        &self,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<CaseSummary>> {
        let keys = self.keys()?;
        let ids: Vec<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT id FROM records WHERE kind = 'case' AND (?1 IS NULL OR status = ?1)
                 ORDER BY updated_ms DESC, id DESC LIMIT ?2 OFFSET ?3",
            )?
            .query_map(params![status, limit as i64, offset as i64], |row| {
                row.get(0)
            })?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|bytes| {
                let id = RecordId::from_bytes(bytes.try_into().map_err(|_| StoreError::Corrupt)?);
                // A case row without its summary means the file was damaged.
                read_summary(&self.conn, keys, &id)?.ok_or(StoreError::Corrupt)
            })
            .collect()
    }

    /// Writes a case's summary when what it shows changed, inside the caller's transaction.
    pub(crate) fn refresh_summary(
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
        owner_agency: &str,
        before: Option<&RecordState>,
        after: &RecordState,
    ) -> Result<()> {
        let summary = CaseSummary::of(*id, after, owner_agency);
        let unchanged = before.is_some_and(|b| CaseSummary::of(*id, b, owner_agency) == summary);
        if !unchanged {
            write_summary(conn, keys, &summary)?;
        }
        Ok(())
    }
}
