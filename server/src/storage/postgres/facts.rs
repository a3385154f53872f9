//! Keeping the sealed report facts and the sealed match profile of each record in step with its
//! merged state, in PostgreSQL.
//!
//! [`refresh`] runs in the transaction that merges an operation into a record's state, so facts
//! never describe a state that was rolled back. When the derivation changes ([`FACTS_VERSION`])
//! [`rebuild_if_stale`] rebuilds every row from the sealed states when the storage opens, in one
//! transaction. (Kept apart from the log so the facts' storage can change on its own.)

use super::state::{load_state, read_meta, write_meta};
use super::Tx;
use super::{backend, col, record_id_of};
use crate::reports::facts::{CaseFacts, ServiceFacts};
use crate::reports::matching::{BlockKey, MatchProfile};
use crate::seal::Sealer;
use crate::storage::StorageError;
use crate::storage::{sealed_facts, sealed_profile};
use fieldcase_core::merge::RecordState;
use fieldcase_core::{RecordId, RecordKind};

/// Version of the derivation of facts and match profiles; the same as SQLite's
/// (`sqlite::facts::FACTS_VERSION`): bump both together.
pub const FACTS_VERSION: &str = "8";

/// Rewrites the facts (and match profile) of one record from its state after a merge.
pub(super) fn refresh(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match state.kind {
        RecordKind::Case => {
            let case = crate::reports::facts::read_case(&state.values());
            write_case(tx, sealer, record, &case)
        }
        RecordKind::Service => refresh_service(tx, sealer, record, state),
        _ => Ok(()),
    }
}

/// Writes the facts and match profile of a case read from its state, sealed
/// ([`crate::storage::sealed_facts`]); only the intake month stays in the clear.
fn write_case(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
    case: &fieldcase_core::model::Case,
) -> Result<(), StorageError> {
    let f = CaseFacts::from_case(case);
    let (profile, blocks) =
        sealed_profile_columns(sealer, record, MatchProfile::of_case(case, sealer).as_ref());
    // One statement, so one new version of the row.
    let updated = tx
        .execute(
            "UPDATE records SET intake_month = $2, facts = $3, profile = $4, blocks = $5
             WHERE record_id = $1",
            &[
                &record.as_bytes().as_slice(),
                &sealed_facts::intake_month(f.intake_date),
                &sealed_facts::seal_case(sealer, record, &f),
                &profile,
                &blocks,
            ],
        )
        .map_err(backend)?;
    one_record(updated)
}

/// The `profile` and `blocks` columns of a case's row: sealed, packed; both `NULL` without a
/// profile.
fn sealed_profile_columns(
    sealer: &Sealer,
    record: RecordId,
    profile: Option<&MatchProfile>,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    match profile {
        Some(p) => (
            Some(sealed_profile::seal_profile(sealer, record, p)),
            Some(pack_blocks(p.blocks(sealer))),
        ),
        None => (None, None),
    }
}

/// Writes (or, with `None`, removes) a case's sealed match profile and its keyed blocks, in
/// one row: the blocks packed ([`pack_blocks`]), so replacing the row replaces them all.
pub(super) fn write_profile(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
    profile: Option<&MatchProfile>,
) -> Result<(), StorageError> {
    let id = record.as_bytes().as_slice();
    let (sealed, blocks) = sealed_profile_columns(sealer, record, profile);
    let updated = tx
        .execute(
            "UPDATE records SET profile = $2, blocks = $3 WHERE record_id = $1",
            &[&id, &sealed, &blocks],
        )
        .map_err(backend)?;
    one_record(updated)
}

/// Facts and profiles live in their record's row (schema step `FOLD_DERIVED_INTO_RECORDS`):
/// writing them for a record without a row is a bug in the caller, never silently nothing.
fn one_record(updated: u64) -> Result<(), StorageError> {
    match updated {
        1 => Ok(()),
        n => Err(StorageError::Backend(format!(
            "derived data written to {n} record rows, not one"
        ))),
    }
}

/// A case's block keys as `records.blocks` holds them: sorted, without repeats (two
/// name pairs may key alike), concatenated ([`BLOCK_KEY_BYTES`](crate::reports::matching::BLOCK_KEY_BYTES) each).
pub(super) fn pack_blocks(mut blocks: Vec<BlockKey>) -> Vec<u8> {
    blocks.sort_unstable();
    blocks.dedup();
    blocks.concat()
}

fn refresh_service(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match ServiceFacts::from_fields(&state.values()) {
        Some(f) => tx
            .execute(
                "INSERT INTO service_facts (record_id, case_id, facts) VALUES ($1, $2, $3)
                 ON CONFLICT (record_id) DO UPDATE SET
                   case_id = excluded.case_id, facts = excluded.facts",
                &[
                    &record.as_bytes().as_slice(),
                    &f.case_id.as_bytes().as_slice(),
                    &sealed_facts::seal_service(sealer, record, &f),
                ],
            )
            .map_err(backend)?,
        None => tx
            .execute(
                "DELETE FROM service_facts WHERE record_id = $1",
                &[&record.as_bytes().as_slice()],
            )
            .map_err(backend)?,
    };
    Ok(())
}

/// Rebuilds every facts row and match profile from the sealed states when they were made by
/// another derivation (or never), then records [`FACTS_VERSION`]. Runs in the caller's
/// transaction: a crash leaves the old rows and version, and the next start does it again.
pub(super) fn rebuild_if_stale(tx: &mut Tx<'_>, sealer: &Sealer) -> Result<(), StorageError> {
    if read_meta(tx, "facts_version")?.as_deref() == Some(FACTS_VERSION.as_bytes()) {
        return Ok(());
    }
    tx.batch_execute(
        // The facts of purged records stay (their state is gone; figures for past
        // periods keep counting them, in the derivation they were purged with).
        "UPDATE records SET intake_month = NULL, facts = NULL
           WHERE purged_at IS NULL AND facts IS NOT NULL;
         DELETE FROM service_facts WHERE record_id NOT IN
           (SELECT record_id FROM records WHERE purged_at IS NOT NULL);
         UPDATE records SET profile = NULL, blocks = NULL WHERE profile IS NOT NULL;",
    )
    .map_err(backend)?;
    let records = tx
        .query(
            "SELECT record_id FROM records WHERE kind IN ('case', 'service')",
            &[],
        )
        .map_err(backend)?
        .iter()
        .map(|row| record_id_of(col(row, 0)?))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rebuilt = 0usize;
    for record in records {
        if let Some(state) = load_state(tx, sealer, record)? {
            refresh(tx, sealer, record, &state)?;
            rebuilt += 1;
        }
    }
    write_meta(tx, "facts_version", FACTS_VERSION.as_bytes())?;
    if rebuilt > 0 {
        tracing::info!(records = rebuilt, "rebuilt report facts from sealed states");
    }
    Ok(())
}
