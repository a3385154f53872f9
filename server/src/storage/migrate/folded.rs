//! The logical tables PostgreSQL keeps in another shape than SQLite. A case's report facts
//! and match profile live in its `records` row (schema step `FOLD_DERIVED_INTO_RECORDS`), and
//! its match blocks packed in that row's `blocks` (schema step `PACK_MATCH_BLOCKS`). The
//! migration still copies, counts and checksums SQLite's tables as [`super::TABLES`] names
//! them: on the PostgreSQL side each is read through a query that gives SQLite's rows back
//! ([`target_relation`]); `records` is copied first, then `report_facts` and `match_profiles`
//! fill in its rows ([`copy_report_facts`], [`copy_match_profiles`], each case's profile with
//! its blocks), and `match_blocks` is counted with the profiles.

use super::{source_error, target_error, MigrateError};
use crate::reports::matching::BLOCK_KEY_BYTES;
use postgres::Transaction;
use rusqlite::Connection;

/// The columns of PostgreSQL's `records` that are SQLite's `records` (the rest hold the
/// folded tables).
const RECORD_COLUMNS: &str =
    "record_id, kind, owner_agency, case_id, created_device, created_seq, state, purged_at";

/// Whether `table` has no PostgreSQL rows of its own: its rows are written with another's.
pub(super) fn is_folded(table: &str) -> bool {
    table == "match_blocks"
}

/// Whether `table`'s rows are written into `records` rather than a table of their own.
pub(super) fn is_folding(table: &str) -> bool {
    matches!(table, "match_profiles" | "report_facts")
}

/// Copies a folding table ([`is_folding`]) into `records`; returns the rows copied.
pub(super) fn copy_folding(
    sqlite: &Connection,
    tx: &mut Transaction<'_>,
    table: &str,
) -> Result<u64, MigrateError> {
    match table {
        "report_facts" => copy_report_facts(sqlite, tx),
        _ => copy_match_profiles(sqlite, tx),
    }
}

/// What to read in PostgreSQL for the rows of the logical table `table`, as a `FROM` item
/// whose columns are SQLite's.
pub(super) fn target_relation(table: &str) -> String {
    match table {
        "records" => format!("(SELECT {RECORD_COLUMNS} FROM records) AS records"),
        "report_facts" => "(SELECT record_id, intake_month, facts FROM records
                            WHERE facts IS NOT NULL) AS report_facts"
            .to_owned(),
        "match_profiles" => "(SELECT record_id, profile FROM records
                              WHERE profile IS NOT NULL) AS match_profiles"
            .to_owned(),
        "match_blocks" => format!(
            "(SELECT substring(m.blocks FROM k * {n} + 1 FOR {n}) AS block, m.record_id
              FROM records m,
                   generate_series(0, length(m.blocks) / {n} - 1) AS k
              WHERE m.profile IS NOT NULL) AS match_blocks",
            n = BLOCK_KEY_BYTES
        ),
        other => other.to_owned(),
    }
}

/// Sets one copied record's folded columns; a row of no copied record is a source the
/// migration cannot keep, and says so.
fn fill_record(
    tx: &mut Transaction<'_>,
    statement: &postgres::Statement,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    table: &str,
) -> Result<(), MigrateError> {
    let updated = tx.execute(statement, params).map_err(target_error)?;
    if updated != 1 {
        return Err(MigrateError::Source(format!(
            "a row of {table} belongs to no record"
        )));
    }
    Ok(())
}

/// Writes SQLite's report facts into their records' rows.
fn copy_report_facts(sqlite: &Connection, tx: &mut Transaction<'_>) -> Result<u64, MigrateError> {
    let update = tx
        .prepare("UPDATE records SET intake_month = $2, facts = $3 WHERE record_id = $1")
        .map_err(target_error)?;
    let mut rows = sqlite
        .prepare("SELECT record_id, intake_month, facts FROM report_facts ORDER BY record_id")
        .map_err(source_error)?;
    let mut facts = rows.query([]).map_err(source_error)?;
    let mut copied = 0u64;
    while let Some(row) = facts.next().map_err(source_error)? {
        let record: Vec<u8> = row.get(0).map_err(source_error)?;
        let month: Option<String> = row.get(1).map_err(source_error)?;
        let sealed: Vec<u8> = row.get(2).map_err(source_error)?;
        fill_record(tx, &update, &[&record, &month, &sealed], "report_facts")?;
        copied += 1;
    }
    Ok(copied)
}

/// A SQLite `match_blocks` row: the record, then the block key.
type OwnedBlock = (Vec<u8>, Vec<u8>);

/// Writes every SQLite match profile with its blocks packed (sorted, concatenated) into its
/// record's row: both SQLite tables read in record order and merged. Returns the profiles
/// written. (A block of no profile is not written: the checksums of `match_blocks` then
/// differ, and the migration says so.)
fn copy_match_profiles(sqlite: &Connection, tx: &mut Transaction<'_>) -> Result<u64, MigrateError> {
    let update = tx
        .prepare("UPDATE records SET profile = $2, blocks = $3 WHERE record_id = $1")
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
        fill_record(tx, &update, &[&record, &profile, &packed], "match_profiles")?;
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
