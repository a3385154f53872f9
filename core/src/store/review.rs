//! Cases that need review: imported from a spreadsheet although they break a rule between
//! fields that the source could not have known (a child's guardian missing from the consent,
//! consent never recorded in the old system), kept with where they came from.
//!
//! A flag is sealed like every other row (its reasons name fields and rules only, but where a
//! case came from is still the agency's business) and lives on this device only: it does not
//! sync. The case itself syncs as it is — the server stores merged state that breaks a rule
//! already, for the same reason: refusing it would lose someone's work. A flag goes away when
//! its case passes every rule: after an edit on this device ([`Store::update_case`]), or when
//! the list is read after a sync brought a fix made elsewhere. The reasons listed are the
//! case's rule problems as they are now, not as they were at import.

use super::error::{Result, StoreError};
use super::Store;
use crate::crypto::{Aad, StoreKeys};
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::model::Case;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// One field a flagged case has wrong, and the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewReason {
    pub field: String,
    pub reason: String,
}

/// A case waiting for review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewFlag {
    pub case_id: RecordId,
    pub flagged_ms: i64,
    /// The file it came from (its name, without directories) and its row there.
    pub source: String,
    pub row: u64,
    /// What the case breaks now.
    pub reasons: Vec<ReviewReason>,
}

/// The sealed part of a flag.
#[derive(Serialize, Deserialize)]
struct SealedFlag {
    source: String,
    row: u64,
}

fn flag_aad(id: &RecordId) -> Aad<'_> {
    Aad {
        table: "review_flags",
        record: id.as_bytes(),
        part: "flag",
    }
}

/// The rule problems of a case's current fields, or none when it passes.
fn current_reasons(fields: &crate::model::Fields) -> Vec<ReviewReason> {
    match Case::from_fields(fields) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| ReviewReason {
                field: e.field,
                reason: e.reason.to_string(),
            })
            .collect(),
    }
}

impl Store {
    /// Writes a flag inside the caller's transaction.
    pub(super) fn stage_review_flag(
        conn: &Connection,
        keys: &StoreKeys,
        id: &RecordId,
        source: &str,
        row: u64,
        flagged_ms: i64,
    ) -> Result<()> {
        let plain = serde_json::to_vec(&SealedFlag {
            source: source.to_owned(),
            row,
        })
        .expect("flags serialize");
        let sealed = keys.seal.seal(flag_aad(id), &plain);
        conn.prepare_cached(
            "INSERT OR REPLACE INTO review_flags (record_id, flagged_ms, flag) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![&id.as_bytes()[..], flagged_ms, sealed])?;
        Ok(())
    }

    /// Cases that need review, oldest flag first, each with what it breaks now. Flags whose
    /// case now passes every rule (fixed here or on another device) are removed on the way.
    pub fn list_review(&self) -> Result<Vec<ReviewFlag>> {
        let keys = self.keys()?;
        let rows: Vec<(Vec<u8>, i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT record_id, flagged_ms, flag FROM review_flags ORDER BY flagged_ms, record_id",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut flags = Vec::new();
        for (id_bytes, flagged_ms, sealed) in rows {
            let id = RecordId::from_bytes(id_bytes.try_into().map_err(|_| StoreError::Corrupt)?);
            let integrity = || StoreError::Integrity {
                table: "review_flags",
                record: id.to_string(),
            };
            let plain = keys
                .seal
                .open(flag_aad(&id), &sealed)
                .map_err(|_| integrity())?;
            let flag: SealedFlag = serde_json::from_slice(&plain).map_err(|_| integrity())?;
            let reasons = match Self::load_record(&self.conn, keys, &id)? {
                Some(record) if record.state.kind == RecordKind::Case => {
                    current_reasons(&record.state.values())
                }
                // The case is gone (a wipe of records never leaves flags; be safe anyway).
                _ => Vec::new(),
            };
            if reasons.is_empty() {
                self.drop_review_flag(&id)?;
                continue;
            }
            flags.push(ReviewFlag {
                case_id: id,
                flagged_ms,
                source: flag.source,
                row: flag.row,
                reasons,
            });
        }
        Ok(flags)
    }

    /// How many flags are held (including any whose case was fixed since the list was read).
    pub fn count_review(&self) -> Result<u64> {
        self.ensure_not_wiped()?;
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM review_flags", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Whether a case carries a review flag.
    pub fn needs_review(&self, id: &RecordId) -> Result<bool> {
        self.ensure_not_wiped()?;
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM review_flags WHERE record_id = ?1")?
            .query_row([&id.as_bytes()[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Removes a case's flag when the case now passes every rule (after an edit).
    pub(super) fn clear_review_if_passes(&self, id: &RecordId) -> Result<()> {
        if !self.needs_review(id)? {
            return Ok(());
        }
        let keys = self.keys()?;
        if let Some(record) = Self::load_record(&self.conn, keys, id)? {
            if current_reasons(&record.state.values()).is_empty() {
                self.drop_review_flag(id)?;
            }
        }
        Ok(())
    }

    fn drop_review_flag(&self, id: &RecordId) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM review_flags WHERE record_id = ?1")?
            .execute([&id.as_bytes()[..]])?;
        Ok(())
    }
}
