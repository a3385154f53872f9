//! Purging records in PostgreSQL, as [`crate::service::retention`] decides: what a purged record
//! keeps and what goes.
//!
//! Goes: every logged operation of the records and who it was addressed to, their merged
//! state, the case's match profile and blocks, its attachments and their chunks, and the
//! access referrals granted to it. Stays: the `records` row (id, kind, owner, case) marked
//! `purged_at`, so a late edit is refused rather than taken for a new record; the sealed report
//! facts and the referral rows (codes only), so figures for past periods do not change.
//! (PostgreSQL frees the rows' space at the next vacuum; their values were sealed.)

use super::Tx;
use super::{backend, col, record_id_of, to_sql};
use crate::seal::Sealer;
use crate::storage::StorageError;
use fieldcase_core::RecordId;

/// The records that hang on `case` (its services, notes, referrals, attachments).
pub(super) fn records_of_case(
    tx: &mut Tx<'_>,
    case: RecordId,
) -> Result<Vec<RecordId>, StorageError> {
    tx.query(
        "SELECT record_id FROM records WHERE case_id = $1",
        &[&case.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| record_id_of(col(row, 0)?))
    .collect()
}

pub(super) fn is_purged(tx: &mut Tx<'_>, id: RecordId) -> Result<bool, StorageError> {
    tx.query_opt(
        "SELECT purged_at IS NOT NULL FROM records WHERE record_id = $1",
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| col::<bool>(&row, 0))
    .transpose()
    .map(|purged| purged.unwrap_or(false))
}

pub(super) fn purge(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    ids: &[RecordId],
    now_ms: u64,
) -> Result<(), StorageError> {
    for id in ids {
        let id_bytes = id.as_bytes().as_slice();
        super::facts::write_profile(tx, sealer, *id, None)?;
        for sql in [
            "DELETE FROM op_audience WHERE position IN
               (SELECT position FROM op_log WHERE record_id = $1)",
            "DELETE FROM op_log WHERE record_id = $1",
            "DELETE FROM attachment_chunks WHERE attachment_id IN
               (SELECT attachment_id FROM attachments WHERE case_id = $1 OR attachment_id = $1)",
            "DELETE FROM attachments WHERE case_id = $1 OR attachment_id = $1",
            "DELETE FROM case_access WHERE case_id = $1",
        ] {
            tx.execute(sql, &[&id_bytes]).map_err(backend)?;
        }
        tx.execute(
            "UPDATE records SET state = NULL, purged_at = $2 WHERE record_id = $1",
            &[&id_bytes, &to_sql(now_ms)],
        )
        .map_err(backend)?;
    }
    Ok(())
}
