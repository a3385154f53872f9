//! Conflict entries: values that lost a concurrent edit, for a supervisor to review.
//!
//! Resolving is itself an edit that syncs: restoring writes the losing value back, dismissing
//! rewrites the current value; either way the edit declares it has seen both versions, so the
//! conflict disappears on every device once the edit arrives there.

use super::error::{Result, StoreError};
use super::Store;
use crate::hlc::Hlc;
use crate::ids::RecordId;
use crate::merge::op::{Operation, RecordKind};
use crate::model::Fields;
use serde_json::Value;

/// One conflict, with the value that won so both can be shown side by side.
#[derive(Clone, PartialEq)]
pub struct ConflictEntry {
    pub record_id: RecordId,
    pub kind: RecordKind,
    pub field: String,
    /// The value that lost.
    pub value: Value,
    /// Its version; names the conflict when resolving it.
    pub version: Hlc,
    /// The value in place now (`None` if the field is cleared).
    pub current: Option<Value>,
}

impl std::fmt::Debug for ConflictEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConflictEntry")
            .field("record_id", &self.record_id)
            .field("field", &self.field)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What a supervisor decides about a conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Put the losing value back.
    Restore,
    /// Keep the current value and drop the entry.
    Dismiss,
}

impl Store {
    /// Every open conflict entry in the store.
    pub fn list_conflicts(&self) -> Result<Vec<ConflictEntry>> {
        let records = self.load_selected(
            "SELECT id FROM records WHERE conflicts > 0 ORDER BY updated_ms DESC",
            [],
        )?;
        let mut entries = Vec::new();
        for record in records {
            let id = record.id;
            for conflict in &record.state.conflicts {
                let current = record
                    .state
                    .fields
                    .get(&conflict.field)
                    .map(|f| f.value.clone())
                    .filter(|v| !v.is_null());
                entries.push(ConflictEntry {
                    record_id: id,
                    kind: record.state.kind,
                    field: conflict.field.clone(),
                    value: conflict.value.clone(),
                    version: conflict.hlc,
                    current,
                });
            }
        }
        Ok(entries)
    }

    /// Restores or dismisses one conflict entry. Returns the operation that carries the
    /// decision to the other devices.
    pub fn resolve_conflict(
        &mut self,
        record_id: &RecordId,
        field: &str,
        version: Hlc,
        resolution: Resolution,
    ) -> Result<Operation> {
        let keys = self.keys()?;
        let record =
            Self::load_record(&self.conn, keys, record_id)?.ok_or(StoreError::NoSuchConflict)?;
        let conflict = record
            .state
            .conflicts
            .iter()
            .find(|c| c.field == field && c.hlc == version)
            .ok_or(StoreError::NoSuchConflict)?;
        let value = match resolution {
            Resolution::Restore => conflict.value.clone(),
            Resolution::Dismiss => record
                .state
                .fields
                .get(field)
                .map_or(Value::Null, |f| f.value.clone()),
        };
        let kind = record.state.kind;
        if kind == RecordKind::Case && record.owner_agency != self.identity.agency.as_str() {
            return Err(StoreError::NotOwner { id: *record_id });
        }
        let changes: Fields = [(field.to_owned(), value)].into();
        let before = record.state.values();
        let validate = move |fields: &Fields| match kind {
            RecordKind::Case => super::cases::validate_case_change(&before, fields),
            _ => Ok(()),
        };
        self.save_local_change(
            kind,
            *record_id,
            record.case_id,
            changes,
            Some((field, version)),
            &validate,
        )?
        .ok_or(StoreError::NoSuchConflict)
    }
}
