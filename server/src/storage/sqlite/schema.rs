//! The SQLite schema: connection pragmas, the current schema, and numbered migrations.
//!
//! A fresh database is created at the current version in one step ([`CREATE_CURRENT`]); an
//! older one is upgraded by numbered steps, each from version `v` to `v + 1` in its own
//! transaction ([`MIGRATIONS`]). The version lives in `PRAGMA user_version`. A test upgrades a
//! frozen snapshot of every old version (`server/tests/fixtures/schema_v1.sql`) and checks
//! that the result has exactly the columns, indexes and foreign keys of a fresh database —
//! so forgetting a migration, or a migration that drifts from [`CREATE_CURRENT`], fails CI.
//!
//! Versions:
//! 1. the first schema: agencies, users, devices, enrollment codes, admin tokens, records,
//!    the operation log;
//! 2. `devices.last_seen_at`, so admins can see which phones have gone quiet.

use crate::storage::StorageError;
use rusqlite::{Connection, TransactionBehavior};
use std::time::Duration;

/// The version [`CREATE_CURRENT`] creates.
pub const SCHEMA_VERSION: i64 = 2;

/// How long a connection waits for a lock before failing. Only the writer takes write locks
/// and it is behind a mutex, so this covers checkpoints and external tools (backups).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Size the WAL file is truncated back to after a checkpoint: a burst of pushes may grow it,
/// but it does not stay large.
pub const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// The current schema, for a fresh database.
///
/// - Ids of devices and records are 16-byte BLOBs (UUIDs); user ids are UUID text.
/// - Times are milliseconds since the Unix epoch.
/// - `op_log.position` is `AUTOINCREMENT` so a position is never reused, even if the last
///   rows are someday deleted by compaction: a reused position could hide behind a cursor.
/// - `op_log.payload` is the operation's fields, sealed (`crate::seal`); everything else in
///   the row is what the server must read in the clear to route and order operations.
pub const CREATE_CURRENT: &str = r#"
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE agencies (
    code       TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    agency       TEXT NOT NULL REFERENCES agencies(code),
    role         TEXT NOT NULL CHECK (role IN
                   ('caseworker', 'supervisor', 'agency_admin', 'analyst', 'system_admin')),
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX users_by_agency ON users(agency);
CREATE TABLE devices (
    id              BLOB PRIMARY KEY NOT NULL,
    agency          TEXT NOT NULL REFERENCES agencies(code),
    user_id         TEXT NOT NULL REFERENCES users(id),
    label           TEXT NOT NULL,
    credential_hash BLOB NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_seen_at    INTEGER
);
CREATE INDEX devices_by_agency ON devices(agency);
CREATE TABLE enrollment_codes (
    code_hash  BLOB PRIMARY KEY NOT NULL,
    agency     TEXT NOT NULL REFERENCES agencies(code),
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    device_id  BLOB REFERENCES devices(id)
);
CREATE TABLE admin_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    agency     TEXT REFERENCES agencies(code),
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE records (
    record_id      BLOB PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    owner_agency   TEXT NOT NULL REFERENCES agencies(code),
    case_id        BLOB REFERENCES records(record_id),
    created_device BLOB NOT NULL,
    created_seq    INTEGER NOT NULL
);
CREATE TABLE op_log (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    BLOB NOT NULL REFERENCES devices(id),
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    record_id    BLOB NOT NULL REFERENCES records(record_id),
    owner_agency TEXT NOT NULL,
    hlc_wall     INTEGER NOT NULL,
    hlc_counter  INTEGER NOT NULL,
    payload      BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX op_log_by_agency ON op_log(owner_agency, position);
"#;

/// `MIGRATIONS[i]` upgrades version `i + 1` to `i + 2`. Never edit a shipped step: add one.
pub const MIGRATIONS: &[&str] = &[
    // 1 → 2
    "ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;",
];

/// Which connection a pragma set is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionRole {
    Writer,
    Reader,
}

/// Sets every pragma the server relies on; called once per connection, before anything else.
///
/// - `journal_mode=WAL`: readers never block the writer nor each other;
/// - `synchronous=FULL`: a push is acknowledged only once it survives a power cut (NORMAL in
///   WAL mode may lose the last transactions, and a device then drops acknowledged operations);
/// - `foreign_keys=ON`: SQLite leaves it off by default;
/// - `busy_timeout`: [`BUSY_TIMEOUT`];
/// - `journal_size_limit`: [`JOURNAL_SIZE_LIMIT_BYTES`];
/// - `temp_store=MEMORY`: sorts and temporary indexes never touch disk unsealed;
/// - readers are `query_only`, so a bug cannot write outside the writer's lock.
pub fn configure(conn: &Connection, role: ConnectionRole) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("the database refused WAL mode (got {mode})")),
        ));
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    let _: i64 = conn.query_row(
        &format!("PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}"),
        [],
        |row| row.get(0),
    )?;
    if role == ConnectionRole::Reader {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`]: creates it when empty, upgrades it step by step
/// when older, refuses it when newer.
pub fn prepare(conn: &mut Connection) -> Result<(), StorageError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(super::backend)?;
    if version > SCHEMA_VERSION {
        return Err(StorageError::Backend(format!(
            "the database has schema version {version}, newer than this server's \
             {SCHEMA_VERSION}: run a newer fieldcase"
        )));
    }
    if version == 0 {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(super::backend)?;
        let empty: bool = tx
            .query_row(
                "SELECT count(*) = 0 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(super::backend)?;
        if !empty {
            return Err(StorageError::Backend(
                "the database file holds tables but no schema version: not a fieldcase \
                 database"
                    .into(),
            ));
        }
        tx.execute_batch(CREATE_CURRENT).map_err(super::backend)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(super::backend)?;
        return tx.commit().map_err(super::backend);
    }
    for from in version..SCHEMA_VERSION {
        let step = MIGRATIONS[(from - 1) as usize];
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(super::backend)?;
        tx.execute_batch(step).map_err(super::backend)?;
        tx.pragma_update(None, "user_version", from + 1)
            .map_err(super::backend)?;
        tx.commit().map_err(super::backend)?;
        tracing::info!(from, to = from + 1, "migrated database schema");
    }
    Ok(())
}

/// A normalized description of the schema — per table its columns (name, type, not-null,
/// default, primary key), indexes (name, unique, columns) and foreign keys — for comparing a
/// migrated database with a fresh one regardless of how the SQL text was written.
pub fn describe(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut out = Vec::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        let mut columns = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
        let mut rows = columns.query([])?;
        while let Some(row) = rows.next()? {
            out.push(format!(
                "{table} column {} {} notnull={} default={:?} pk={}",
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, i64>(5)?,
            ));
        }
        let mut indexes = conn.prepare(&format!("PRAGMA index_list(\"{table}\")"))?;
        let index_rows: Vec<(String, i64)> = indexes
            .query_map([], |row| Ok((row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (index, unique) in index_rows {
            let cols: Vec<String> = conn
                .prepare(&format!("PRAGMA index_info(\"{index}\")"))?
                .query_map([], |row| row.get::<_, Option<String>>(2))?
                .map(|c| c.map(|c| c.unwrap_or_default()))
                .collect::<Result<_, _>>()?;
            out.push(format!(
                "{table} index {index} unique={unique} ({})",
                cols.join(",")
            ));
        }
        let mut fks = conn.prepare(&format!("PRAGMA foreign_key_list(\"{table}\")"))?;
        let mut rows = fks.query([])?;
        while let Some(row) = rows.next()? {
            out.push(format!(
                "{table} fk {} -> {}({:?})",
                row.get::<_, String>(3)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(4)?,
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of version 1 exactly as it shipped, frozen.
    const SNAPSHOT_V1: &str = include_str!("../../../tests/fixtures/schema_v1.sql");

    #[test]
    fn every_migration_is_numbered() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION - 1);
    }

    #[test]
    fn a_migrated_v1_database_matches_a_fresh_one() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(SNAPSHOT_V1).unwrap();
        prepare(&mut old).unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        prepare(&mut fresh).unwrap();
        let version =
            |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        assert_eq!(version(&old).unwrap(), SCHEMA_VERSION);
        assert_eq!(version(&fresh).unwrap(), SCHEMA_VERSION);
        assert_eq!(describe(&old).unwrap(), describe(&fresh).unwrap());
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(prepare(&mut conn).is_err());
    }
}
