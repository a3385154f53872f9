//! Server settings in SQLite: the `server_meta` key–value table, as the port exposes it
//! (network-wide form versions live there; see [`crate::service::forms`]).

use super::backend;
use crate::storage::StorageError;
use rusqlite::{params, OptionalExtension, Transaction};

pub(super) fn setting(tx: &Transaction<'_>, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    tx.query_row(
        "SELECT value FROM server_meta WHERE key = ?1",
        [key],
        |row| row.get(0),
    )
    .optional()
    .map_err(backend)
}

pub(super) fn insert_setting(
    tx: &Transaction<'_>,
    key: &str,
    value: &[u8],
) -> Result<(), StorageError> {
    let inserted = tx
        .execute(
            "INSERT INTO server_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, value],
        )
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StorageError::AlreadyExists("server setting"));
    }
    Ok(())
}

pub(super) fn put_setting(
    tx: &Transaction<'_>,
    key: &str,
    value: &[u8],
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn settings_with_prefix(
    tx: &Transaction<'_>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    // SQLite compares text by bytes: every key with the prefix sorts from the prefix itself
    // to the prefix with its last byte replaced by everything above it, so a range scan of
    // the primary key finds them (a `LIKE` would not use the index and would read `_`/`%`).
    let mut statement = tx
        .prepare_cached(
            "SELECT key, value FROM server_meta
             WHERE key >= ?1 AND substr(key, 1, length(?1)) = ?1 ORDER BY key",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map([prefix], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend);
    rows
}
