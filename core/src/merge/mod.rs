//! Merging operations: per-field last-writer-wins on the hybrid logical clock, without
//! losing the loser.
//!
//! [`plan`] is a pure function: the current state of the records an operation batch touches,
//! plus the batch, in; the new state of each touched record out. The store applies the plan
//! in one transaction. Nothing here does I/O, so the rules are tested without a database.
//!
//! The rules, per field:
//! - the write with the greatest [`Hlc`] is the value (ties are impossible: the clock includes
//!   the device id, and one device never issues the same timestamp twice);
//! - a write that loses is kept as a [`Conflict`] unless some write declared it *seen*
//!   ([`FieldChange::seen`]): an edit made on top of a value replaces it knowingly;
//! - the set of seen versions only grows, so the outcome — value and conflicts — is the same
//!   whatever order and however many times operations arrive.

pub mod op;
mod plan;

pub use plan::{plan, Conflict, FieldState, MergePlan, RecordOutcome, RecordState, SkipReason};

/// The state of one record after folding `op` into `before` (`None`: the record is new). An
/// operation the plan skips (another kind than the record's) leaves the state as it was.
pub fn merged_state(before: Option<RecordState>, op: &crate::Operation) -> RecordState {
    let current: std::collections::BTreeMap<_, _> =
        before.iter().map(|s| (op.record_id, s.clone())).collect();
    let mut merged = plan(&current, std::slice::from_ref(op));
    match merged.records.remove(&op.record_id) {
        Some(outcome) => outcome.after,
        None => before.unwrap_or_else(|| RecordState::new(op.kind)),
    }
}
