//! The logical tables PostgreSQL keeps in another shape than SQLite: SQLite's `match_blocks`
//! rows (block, record) live packed in their case's `match_profiles.blocks` in PostgreSQL
//! (schema step `PACK_MATCH_BLOCKS`). The migration still copies, counts and checksums them as the
//! tables [`super::TABLES`] names: on the PostgreSQL side each is read through a query that
//! gives SQLite's rows back ([`target_relation`]), and `match_profiles` is written from both
//! SQLite tables at once, each case's profile with its blocks ([`copy_match_profiles`]).

use super::{source_error, target_error, MigrateError};
use crate::reports::matching::BLOCK_KEY_BYTES;
use postgres::Transaction;
use rusqlite::Connection;

/// Whether `table` has no PostgreSQL table of its own: its rows are written with another's.
pub(super) fn is_folded(table: &str) -> bool {
    table == "match_blocks"
}

/// Whether `table`'s PostgreSQL rows are written by [`copy_match_profiles`].
pub(super) fn is_folding(table: &str) -> bool {
    table == "match_profiles"
}

/// What to read in PostgreSQL for the rows of the logical table `table`, as a `FROM` item
/// whose columns are SQLite's.
pub(super) fn target_relation(table: &str) -> String {
    match table {
        "match_profiles" => {
            "(SELECT record_id, profile FROM match_profiles) AS match_profiles".to_owned()
        }
        "match_blocks" => format!(
            "(SELECT substring(m.blocks FROM k * {n} + 1 FOR {n}) AS block, m.record_id
              FROM match_profiles m,
                   generate_series(0, length(m.blocks) / {n} - 1) AS k) AS match_blocks",
            n = BLOCK_KEY_BYTES
        ),
        other => other.to_owned(),
    }
}

/// A SQLite `match_blocks` row: the record, then the block key.
type OwnedBlock = (Vec<u8>, Vec<u8>);

/// Writes every SQLite match profile with its blocks packed (sorted, concatenated) into
/// PostgreSQL's `match_profiles`: both SQLite tables read in record order and merged.
/// Returns the profiles written. (A block of no profile is not written: the checksums of
/// `match_blocks` then differ, and the migration says so.)
pub(super) fn copy_match_profiles(
    sqlite: &Connection,
    tx: &mut Transaction<'_>,
) -> Result<u64, MigrateError> {
    let insert = tx
        .prepare("INSERT INTO match_profiles (record_id, profile, blocks) VALUES ($1, $2, $3)")
        .map_err(target_error)?;
    let mut block_rows = sqlite
        .prepare("SELECT record_id, block FROM match_blocks ORDER BY record_id, block")
        .map_err(source_error)?;
    let mut blocks = block_rows.query([]).map_err(source_error)?;
    let mut next_block = || -> Result<Option<OwnedBlock>, MigrateError> {
        let Some(row) = blocks.next().map_err(source_error)? else {
            return Ok(None);
        };
        let block: Vec<u8> = row.get(1).map_err(source_error)?;
        if block.len() != BLOCK_KEY_BYTES {
            return Err(MigrateError::Source(format!(
                "a match block is {} bytes, not {BLOCK_KEY_BYTES}",
                block.len()
            )));
        }
        Ok(Some((row.get(0).map_err(source_error)?, block)))
    };
    let mut pending = next_block()?;
    let mut profile_rows = sqlite
        .prepare("SELECT record_id, profile FROM match_profiles ORDER BY record_id")
        .map_err(source_error)?;
    let mut profiles = profile_rows.query([]).map_err(source_error)?;
    let mut copied = 0u64;
    while let Some(row) = profiles.next().map_err(source_error)? {
        let record: Vec<u8> = row.get(0).map_err(source_error)?;
        let profile: Vec<u8> = row.get(1).map_err(source_error)?;
        let mut packed = Vec::new();
        while let Some((owner, block)) = &pending {
            if *owner > record {
                break;
            }
            if *owner == record {
                packed.extend_from_slice(block);
            }
            pending = next_block()?;
        }
        tx.execute(&insert, &[&record, &profile, &packed])
            .map_err(target_error)?;
        copied += 1;
    }
    Ok(copied)
}

/// The rows of a folded table in SQLite: what its copy (done with the folding table's) holds.
pub(super) fn source_rows(sqlite: &Connection, table: &str) -> Result<u64, MigrateError> {
    let rows: i64 = sqlite
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .map_err(source_error)?;
    Ok(rows as u64)
}
