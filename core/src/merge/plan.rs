//! The pure merge: current record states and a batch of operations in, new states out.
//!
//! See the module docs of [`crate::merge`] for the rules. [`plan`] never fails: an operation
//! that cannot apply (its kind disagrees with the record's) is listed in
//! [`MergePlan::skipped`] and changes nothing.

use super::op::{FieldChange, OpId, Operation, RecordKind};
use crate::hlc::Hlc;
use crate::ids::RecordId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The current value of one field and the version that wrote it. A cleared field keeps its
/// version with a JSON `null` value, so an older write cannot bring the value back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldState {
    #[serde(rename = "v")]
    pub value: Value,
    #[serde(rename = "h")]
    pub hlc: Hlc,
}

/// A value that lost a concurrent edit, kept so a supervisor can see and restore it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: String,
    pub value: Value,
    /// The version of the losing write; identifies the conflict.
    pub hlc: Hlc,
}

/// Everything the merge knows about one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordState {
    pub kind: RecordKind,
    pub fields: BTreeMap<String, FieldState>,
    /// Per field, the versions some edit declared it had seen and replaced. Only grows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, BTreeSet<Hlc>>,
    /// Losing values of concurrent edits, sorted by `(field, hlc)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
}

impl RecordState {
    pub fn new(kind: RecordKind) -> Self {
        RecordState {
            kind,
            fields: BTreeMap::new(),
            seen: BTreeMap::new(),
            conflicts: Vec::new(),
        }
    }

    /// The record's present values (cleared fields left out), as the model reads them.
    pub fn values(&self) -> crate::model::Fields {
        self.fields
            .iter()
            .filter(|(_, state)| !state.value.is_null())
            .map(|(key, state)| (key.clone(), state.value.clone()))
            .collect()
    }

    /// The version of a field's current value, if the field was ever written.
    pub fn version_of(&self, field: &str) -> Option<Hlc> {
        self.fields.get(field).map(|state| state.hlc)
    }

    /// The latest version of any field: when the record last changed.
    pub fn last_changed(&self) -> Option<Hlc> {
        self.fields.values().map(|state| state.hlc).max()
    }

    /// The earliest version of any field: when the record was created, as far as known.
    pub fn first_written(&self) -> Option<Hlc> {
        self.fields.values().map(|state| state.hlc).min()
    }

    /// Applies one field write. Idempotent and commutative with every other write.
    fn apply_write(&mut self, field: &str, change: &FieldChange, hlc: Hlc) {
        if !change.seen.is_empty() {
            let seen = self.seen.entry(field.to_owned()).or_default();
            seen.extend(change.seen.iter().copied());
            // A conflict whose version someone has now knowingly replaced is resolved.
            self.conflicts
                .retain(|c| c.field != field || !seen.contains(&c.hlc));
        }
        let seen = self.seen.get(field);
        let was_seen = |version: &Hlc| seen.is_some_and(|s| s.contains(version));
        if was_seen(&hlc) {
            // This write was already replaced by an edit made on top of it.
            return;
        }
        let incoming = FieldState {
            value: change.value.clone(),
            hlc,
        };
        let loser = match self.fields.get_mut(field) {
            None => {
                self.fields.insert(field.to_owned(), incoming);
                None
            }
            Some(current) if current.hlc == hlc => None,
            Some(current) if current.hlc < hlc => Some(std::mem::replace(current, incoming)),
            Some(_) => Some(incoming),
        };
        if let Some(loser) = loser.filter(|loser| !was_seen(&loser.hlc)) {
            self.add_conflict(Conflict {
                field: field.to_owned(),
                value: loser.value,
                hlc: loser.hlc,
            });
        }
    }

    fn add_conflict(&mut self, conflict: Conflict) {
        let key = |c: &Conflict| (c.field.clone(), c.hlc);
        match self.conflicts.binary_search_by_key(&key(&conflict), key) {
            Ok(_) => {}
            Err(at) => self.conflicts.insert(at, conflict),
        }
    }
}

/// Why an operation was left out of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The record exists with another kind (a corrupt or hostile operation).
    KindMismatch {
        record: RecordKind,
        operation: RecordKind,
    },
}

/// The outcome of one record in a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordOutcome {
    /// `None` when the record did not exist before.
    pub before: Option<RecordState>,
    pub after: RecordState,
}

impl RecordOutcome {
    /// Conflict entries this plan created for the record.
    pub fn new_conflicts(&self) -> usize {
        let before = self.before.as_ref().map_or(0, |b| b.conflicts.len());
        self.after.conflicts.len().saturating_sub(before)
    }
}

/// What applying a batch would change. Only records whose state changes are listed, so a
/// batch already applied plans nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergePlan {
    pub records: BTreeMap<RecordId, RecordOutcome>,
    pub skipped: Vec<(OpId, SkipReason)>,
}

/// Merges `ops` into the current states of the records they touch.
///
/// `current` must hold the stored state of every record an operation in `ops` names that
/// exists; records missing from it are treated as new.
pub fn plan(current: &BTreeMap<RecordId, RecordState>, ops: &[Operation]) -> MergePlan {
    let mut working: BTreeMap<RecordId, RecordState> = BTreeMap::new();
    let mut skipped = Vec::new();
    for op in ops {
        let state = working.entry(op.record_id).or_insert_with(|| {
            current
                .get(&op.record_id)
                .cloned()
                .unwrap_or_else(|| RecordState::new(op.kind))
        });
        if state.kind != op.kind {
            skipped.push((
                op.op_id,
                SkipReason::KindMismatch {
                    record: state.kind,
                    operation: op.kind,
                },
            ));
            continue;
        }
        for (field, change) in &op.fields {
            state.apply_write(field, change, op.hlc);
        }
    }
    let records = working
        .into_iter()
        .filter_map(|(id, after)| {
            let before = current.get(&id).cloned();
            (before.as_ref() != Some(&after)).then_some((id, RecordOutcome { before, after }))
        })
        .collect();
    MergePlan { records, skipped }
}

#[cfg(test)]
mod tests;
