//! Purging records in SQLite, as [`crate::service::retention`] decides: what a purged record
//! keeps and what goes.
//!
//! Goes: every logged operation of the records and who it was addressed to, their merged
//! state, the case's match profile and blocks, its attachments and their chunks, and the
//! access referrals granted to it. Stays: the `records` row (id, kind, owner, case) marked
//! `purged_at`, so a late edit is refused rather than taken for a new record; the sealed report
//! facts and the referral rows (codes only), so figures for past periods do not change.
//! Deleted pages are zeroed (`secure_delete`) so the values do not linger in the file.

use super::{backend, record_id_col, to_sql_ms};
use crate::seal::Sealer;
use crate::storage::StorageError;
use fieldcase_core::RecordId;
use rusqlite::{params, OptionalExtension, Transaction};

/// The records that hang on `case` (its services, notes, referrals, attachments).
pub(super) fn records_of_case(
    tx: &Transaction<'_>,
    case: RecordId,
) -> Result<Vec<RecordId>, StorageError> {
    let mut stmt = tx
        .prepare_cached("SELECT record_id FROM records WHERE case_id = ?1")
        .map_err(backend)?;
    let rows = stmt
        .query_map([case.as_bytes()], |row| record_id_col(row.get(0)?))
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(super) fn is_purged(tx: &Transaction<'_>, id: RecordId) -> Result<bool, StorageError> {
    Ok(tx
        .prepare_cached("SELECT purged_at IS NOT NULL FROM records WHERE record_id = ?1")
        .map_err(backend)?
        .query_row([id.as_bytes()], |row| row.get::<_, bool>(0))
        .optional()
        .map_err(backend)?
        .unwrap_or(false))
}

pub(super) fn purge(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    ids: &[RecordId],
    now_ms: u64,
) -> Result<(), StorageError> {
    tx.pragma_update(None, "secure_delete", "ON")
        .map_err(backend)?;
    for id in ids {
        let id_bytes = id.as_bytes().as_slice();
        super::facts::write_profile(tx, sealer, *id, None)?;
        for sql in [
            "DELETE FROM op_audience WHERE position IN
               (SELECT position FROM op_log WHERE record_id = ?1)",
            "DELETE FROM op_log WHERE record_id = ?1",
            "DELETE FROM attachment_chunks WHERE attachment_id IN
               (SELECT attachment_id FROM attachments WHERE case_id = ?1 OR attachment_id = ?1)",
            "DELETE FROM attachments WHERE case_id = ?1 OR attachment_id = ?1",
            "DELETE FROM case_access WHERE case_id = ?1",
        ] {
            tx.execute(sql, [id_bytes]).map_err(backend)?;
        }
        tx.execute(
            "UPDATE records SET state = NULL, purged_at = ?2 WHERE record_id = ?1",
            params![id_bytes, to_sql_ms(now_ms)],
        )
        .map_err(backend)?;
    }
    tx.pragma_update(None, "secure_delete", "OFF")
        .map_err(backend)?;
    Ok(())
}
