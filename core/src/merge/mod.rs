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
