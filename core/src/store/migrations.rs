//! Schema migrations: numbered v→v+1 steps, each run in its own transaction.
//!
//! `PRAGMA user_version` holds the version. A store newer than this build refuses to open
//! rather than guess. The test at the bottom migrates a version-1 snapshot to the latest and
//! compares it with a fresh database, so a step that forgets something shows up as a diff.

use rusqlite::{Connection, Transaction};

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = 5;

/// Version 1: metadata, sealed records, blind index and outbox.
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Only ids, kinds, timestamps, status and owner agency are in the clear; everything else is in
-- the sealed `state`. A rowid table, not WITHOUT ROWID: rows carry a kilobyte or more of
-- sealed state, which SQLite stores poorly inside an index b-tree.
CREATE TABLE records (
    id           BLOB PRIMARY KEY,
    kind         TEXT NOT NULL,
    case_id      BLOB,
    owner_agency TEXT NOT NULL,
    status       TEXT,
    created_ms   INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    state        BLOB NOT NULL
);
CREATE INDEX records_by_kind ON records (kind, updated_ms);
CREATE INDEX records_by_case ON records (case_id) WHERE case_id IS NOT NULL;

-- Keyed blind-index tokens: HMACs of normalized names, phones and document numbers.
CREATE TABLE search_index (
    token     BLOB NOT NULL,
    record_id BLOB NOT NULL,
    PRIMARY KEY (token, record_id)
) WITHOUT ROWID;
CREATE INDEX search_index_by_record ON search_index (record_id);

-- Operations not yet acknowledged by the server, sealed.
CREATE TABLE outbox (
    seq       INTEGER PRIMARY KEY,
    record_id BLOB NOT NULL,
    op        BLOB NOT NULL
);
";

/// Version 2: sync state, operations the server refused, and a clear conflict count so a
/// supervisor's conflict list does not decrypt every record.
const V2: &str = "
ALTER TABLE records ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX records_with_conflicts ON records (conflicts) WHERE conflicts > 0;

CREATE TABLE sync_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    cursor        TEXT,
    acked_through INTEGER NOT NULL DEFAULT 0,
    last_sync_ms  INTEGER,
    last_error    TEXT
);
INSERT INTO sync_state (id) VALUES (1);

-- Refused by the server: kept for a person to review, never resent, never dropped.
CREATE TABLE rejected_ops (
    seq    INTEGER PRIMARY KEY,
    reason TEXT NOT NULL,
    op     BLOB NOT NULL
);
";

/// Version 3: referral transitions waiting for the server (sealed, in the order asked), and
/// the server's last refusal per referral, for the person to see.
const V3: &str = "
CREATE TABLE referral_commands (
    seq         INTEGER PRIMARY KEY,
    referral_id BLOB NOT NULL,
    command     BLOB NOT NULL
);
CREATE INDEX referral_commands_by_referral ON referral_commands (referral_id, seq);

CREATE TABLE referral_rejections (
    referral_id BLOB PRIMARY KEY,
    rejection   BLOB NOT NULL
) WITHOUT ROWID;
";

/// Attachments step (version 4 here; a self-contained step, so a merge with other new steps
/// can renumber it): attachment rows (clear: ids, sizes, upload state; sealed: type, field,
/// label, SHA-256) and their sealed chunks. Chunks are a rowid table: each holds up to a
/// chunk of sealed bytes, which SQLite stores poorly inside an index b-tree.
const V_ATTACHMENTS: &str = "
CREATE TABLE attachments (
    id          BLOB PRIMARY KEY,
    case_id     BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    chunk_size  INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    uploaded    INTEGER NOT NULL DEFAULT 0,
    meta        BLOB NOT NULL
);
CREATE INDEX attachments_by_case ON attachments (case_id, created_ms);
CREATE INDEX attachments_pending ON attachments (created_ms) WHERE uploaded = 0;

CREATE TABLE attachment_chunks (
    attachment_id BLOB NOT NULL REFERENCES attachments (id) DEFERRABLE INITIALLY DEFERRED,
    idx           INTEGER NOT NULL,
    data          BLOB NOT NULL,
    UNIQUE (attachment_id, idx)
);
";

/// Attachment upload progress step (version 5 here; self-contained, so a merge with other
/// new steps can renumber it): how many chunks of an attachment the server has confirmed, so
/// an app can show "uploading 3 of 32" across restarts, not only while a sync runs.
const V_ATTACHMENT_PROGRESS: &str = "
ALTER TABLE attachments ADD COLUMN chunks_on_server INTEGER NOT NULL DEFAULT 0;
";

/// The steps, in order: `STEPS[n]` takes a store from version `n` to `n + 1`.
const STEPS: [&str; LATEST_VERSION as usize] = [V1, V2, V3, V_ATTACHMENTS, V_ATTACHMENT_PROGRESS];

/// What can stop a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the store was written by a newer fieldcase (schema version {found}, this build knows {LATEST_VERSION}); update the app")]
    TooNew { found: u32 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The schema version of an open database.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the schema to [`LATEST_VERSION`], one step per transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    migrate_to(conn, LATEST_VERSION)
}

fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), MigrationError> {
    let found = version(conn)?;
    if found > LATEST_VERSION {
        return Err(MigrationError::TooNew { found });
    }
    for step in found..target {
        let tx = conn.transaction()?;
        apply_step(&tx, step)?;
        tx.commit()?;
    }
    Ok(())
}

fn apply_step(tx: &Transaction<'_>, from: u32) -> rusqlite::Result<()> {
    tx.execute_batch(STEPS[from as usize])?;
    tx.pragma_update(None, "user_version", from + 1)
}

/// The full schema DDL of the latest version, for the plaintext benchmark baseline.
pub fn latest_schema_sql() -> String {
    STEPS.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn an_old_store_migrates_to_the_same_schema_as_a_fresh_one() {
        let mut old = Connection::open_in_memory().unwrap();
        migrate_to(&mut old, 1).unwrap();
        old.execute(
            "INSERT INTO outbox (seq, record_id, op) VALUES (1, x'00', x'01')",
            [],
        )
        .unwrap();
        migrate(&mut old).unwrap();

        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();

        assert_eq!(schema(&old), schema(&fresh));
        assert_eq!(version(&old).unwrap(), LATEST_VERSION);
        let kept: i64 = old
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "migration must keep data");
    }

    #[test]
    fn attachments_of_an_earlier_store_start_with_no_chunk_confirmed() {
        let mut old = Connection::open_in_memory().unwrap();
        migrate_to(&mut old, 4).unwrap();
        old.execute(
            "INSERT INTO attachments (id, case_id, created_ms, size, chunk_size, chunk_count, meta)
             VALUES (x'01', x'02', 1, 10, 65536, 1, x'03')",
            [],
        )
        .unwrap();
        migrate(&mut old).unwrap();
        let confirmed: i64 = old
            .query_row("SELECT chunks_on_server FROM attachments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(confirmed, 0);
    }

    #[test]
    fn a_newer_store_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(MigrationError::TooNew { .. })
        ));
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
    }
}
