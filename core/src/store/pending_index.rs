//! Index tokens of the cases a sync brings in, written once when the sync ends instead of page
//! by page.
//!
//! Why: a case has some thirty index tokens, and tokens are keyed hashes, so they land all over
//! the index b-tree. Written page by page, every page of a first sync rewrites most of the
//! index's leaves into the WAL again (ten pages of 1,000 cases wrote 68 MB of WAL for a 13 MB
//! index, and each row was a seek from the root). Written once, sorted, the index is built
//! from left to right and each of its pages is written once.
//!
//! How: while a sync runs ([`Store::begin_sync_writes`]), a case new to the store is written
//! with its row and summary but without tokens, and its id goes into `search_index_pending` in
//! the same transaction. A later change to a pending case (a later page, a local edit) writes
//! no tokens either: they are computed from the case's state when the pending cases are
//! indexed — when the sync ends, whether it succeeded or not ([`Store::end_sync_writes`]),
//! when [`MAX_PENDING_CASES`] are waiting, and at unlock (a store closed in the middle of a
//! sync). A purge drops a pending case's id with the case.
//!
//! What it costs: until then the new cases are listed (their summaries are written with them)
//! but not found by search. A case already on the device keeps its tokens up to date on every
//! page as before, so a sync never hides a case search could find before it began.

use super::error::{Result, StoreError};
use super::records::{insert_index_rows, IndexRow};
use super::search::index_tokens;
use super::Store;
use crate::crypto::StoreKeys;
use crate::ids::RecordId;
use rusqlite::Connection;

/// Cases a sync may leave unsearchable before it indexes them in the middle of the sync: a
/// first sync of a large caseload over a slow link runs for a long time, and a caseworker may
/// search what arrived. Also bounds the memory of one pass (some thirty 32-byte rows a case,
/// about 20 MB at this count).
pub(crate) const MAX_PENDING_CASES: u64 = 20_000;

/// Whether case `id`'s tokens wait in the pending list.
pub(crate) fn holds(conn: &Connection, id: &RecordId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM search_index_pending WHERE record_id = ?1")?
        .exists([&id.as_bytes()[..]])?)
}

/// Adds cases to the pending list, inside the caller's transaction.
pub(crate) fn add(conn: &Connection, ids: &mut [[u8; 16]]) -> Result<()> {
    ids.sort_unstable();
    let mut insert =
        conn.prepare_cached("INSERT OR IGNORE INTO search_index_pending (record_id) VALUES (?1)")?;
    for id in ids.iter() {
        insert.execute([&id[..]])?;
    }
    Ok(())
}

/// Removes case `id` from the pending list (it is being dropped), inside the caller's
/// transaction.
pub(crate) fn forget(conn: &Connection, id: &RecordId) -> Result<()> {
    conn.prepare_cached("DELETE FROM search_index_pending WHERE record_id = ?1")?
        .execute([&id.as_bytes()[..]])?;
    Ok(())
}

/// How many cases wait for their tokens.
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM search_index_pending", [], |row| {
            row.get::<_, i64>(0)
        })? as u64,
    )
}

/// Writes the tokens of every pending case from its current state and empties the list, in
/// one transaction. Returns how many cases were indexed.
pub(crate) fn index_all(conn: &mut Connection, keys: &StoreKeys) -> Result<usize> {
    // Most calls (every unlock, every sync's end) find nothing to do: no write transaction.
    if !conn
        .prepare_cached("SELECT 1 FROM search_index_pending")?
        .exists([])?
    {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    let pending: i64 = tx.query_row("SELECT count(*) FROM search_index_pending", [], |row| {
        row.get(0)
    })?;
    // A case dropped since it was listed has no row left, and nothing to index.
    let sealed: Vec<(Vec<u8>, Vec<u8>)> = tx
        .prepare(
            "SELECT r.id, r.state FROM search_index_pending p JOIN records r ON r.id = p.record_id",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows = tokens_of(keys, &sealed)?;
    rows.sort_unstable();
    insert_index_rows(&tx, &rows)?;
    tx.execute("DELETE FROM search_index_pending", [])?;
    tx.commit()?;
    Ok(pending as usize)
}

/// Most threads that unseal cases and compute their tokens at once.
const MAX_WORKERS: usize = 4;

/// The index rows of sealed cases (id, sealed state). Unsealing, decoding and hashing take
/// three quarters of indexing a first sync; they need nothing from the database, so they run
/// on every core (the sync's network work is over by then).
fn tokens_of(keys: &StoreKeys, sealed: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<IndexRow>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    let chunk = sealed.len().div_ceil(workers).max(1);
    let tokens_of_chunk = |cases: &[(Vec<u8>, Vec<u8>)]| -> Result<Vec<IndexRow>> {
        let mut rows = Vec::new();
        for (id, state) in cases {
            let id: [u8; 16] = id.as_slice().try_into().map_err(|_| StoreError::Corrupt)?;
            let state = Store::unseal_state(keys, &RecordId::from_bytes(id), state)?;
            rows.extend(index_tokens(keys, &state).into_iter().map(|t| (t, id)));
        }
        Ok(rows)
    };
    let parts: Vec<Result<Vec<IndexRow>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sealed
            .chunks(chunk)
            .map(|cases| scope.spawn(move || tokens_of_chunk(cases)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut rows = Vec::with_capacity(parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for part in parts {
        rows.extend(part?);
    }
    Ok(rows)
}
