//! Server settings in PostgreSQL: the `server_meta` key–value table, as the port exposes it
//! (network-wide form versions live there; see [`crate::service::forms`]).

use super::Tx;
use super::{backend, col};
use crate::storage::StorageError;

pub(super) fn setting(tx: &mut Tx<'_>, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    super::state::read_meta(tx, key)
}

pub(super) fn insert_setting(tx: &mut Tx<'_>, key: &str, value: &[u8]) -> Result<(), StorageError> {
    let inserted = tx
        .execute(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .map_err(backend)?;
    if inserted == 0 {
        return Err(StorageError::AlreadyExists("server setting"));
    }
    Ok(())
}

pub(super) fn put_setting(tx: &mut Tx<'_>, key: &str, value: &[u8]) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn settings_with_prefix(
    tx: &mut Tx<'_>,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    // `COLLATE "C"`: byte order, as SQLite compares, whatever the database's collation; the
    // prefix is compared as bytes too (`starts_with` would follow the collation).
    tx.query(
        "SELECT key, value FROM server_meta
         WHERE left(key, length($1)) COLLATE \"C\" = $1 ORDER BY key COLLATE \"C\"",
        &[&prefix],
    )
    .map_err(backend)?
    .iter()
    .map(|row| Ok((col(row, 0)?, col(row, 1)?)))
    .collect()
}
