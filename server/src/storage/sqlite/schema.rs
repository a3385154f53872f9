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
//! 2. `devices.last_seen_at`, so admins can see which phones have gone quiet;
//! 3. referrals: each record's merged state (sealed), who each logged operation is addressed
//!    to (`op_audience`), referrals and the case access they grant, processed referral
//!    commands, the audit log; `op_log` takes server-authored operations (no device foreign
//!    key, its own clock column) and is indexed by record;
//! 4. attachments ([`CREATE_ATTACHMENTS`]): declared attachments and their sealed chunks.
//! 5. reports ([`CREATE_REPORTS`]): plain report facts of cases and services, keyed match
//!    profiles and blocks for duplicate finding, duplicate decisions, API tokens of users.
//!    The rows are derived from sealed state, which SQL cannot open: the storage fills them
//!    when it opens a database whose facts are missing or stale (`facts_version` in
//!    `server_meta`, see `sqlite::facts`).
//! 6. credential lifecycle ([`CREDENTIAL_LIFECYCLE`]): public ids, expiry and last use of
//!    admin and API tokens, revocation of enrollment codes, and the agency an API token's
//!    reports are limited to.
//! 7. sealed report facts ([`SEAL_FACTS`]): `report_facts`, `service_facts` and
//!    `match_profiles` keep one sealed value per row instead of plain columns (issue 10,
//!    item 5); in the clear only record ids, a service's case and a case's intake month.
//!    Duplicate decisions are keyed by a token of the pair and sealed. The plain tables are
//!    dropped with `secure_delete` on, so their pages are zeroed; the sealed rows are
//!    rebuilt from the sealed states (decisions: moved) when the storage opens.
//! 8. lean match blocks ([`DROP_BLOCKS_BY_RECORD`]): `match_blocks` loses its index by
//!    record (about a quarter of a case's bytes at rest); a case's old blocks are found from
//!    its old sealed profile instead and deleted by primary key (`sqlite::facts`).
//! 9. device credentials that expire and rotate ([`DEVICE_CREDENTIAL_ROTATION`]).
//! 10. cases flagged for review ([`CREATE_CASE_REVIEWS`]).
//! 11. the audit chain ([`AUDIT_CHAIN`]): `audit_log` gains each entry's sequence number in
//!     the chain, its hash and (on a checkpoint) the server's signature, and the events
//!     `checkpoint` and `case_purged`; entries kept from before are chained in the same
//!     transaction, oldest first (`sqlite::audit::chain_unchained`, through
//!     `crate::service::audit_chain`).
//! 12. retention ([`RETENTION`]): `records.purged_at` marks a record purged under its
//!     agency's retention period (its content gone, its row kept so a late edit is refused),
//!     and `records_by_case` finds what hangs on a case.
//! 13. store rollback counters ([`DEVICE_STORE_COUNTERS`]): per device, the highest counter
//!     its store sent and whether it was found copied back or tampered with.

use crate::storage::StorageError;
use rusqlite::{Connection, TransactionBehavior};
use std::time::Duration;

/// The version [`CREATE_CURRENT`] creates.
pub const SCHEMA_VERSION: i64 = 13;

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
    created_seq    INTEGER NOT NULL,
    state          BLOB
);
"#;

/// The operation log and what hangs off it, shared by [`CREATE_CURRENT`] and the migration
/// that rebuilt the log (version 3).
///
/// - `op_log.device_id` is a device's id, or `SERVER_DEVICE_ID` for operations the server
///   writes (referral status, copies of shared fields), which is why it has no foreign key;
///   `hlc_device` is the clock's device when it is not `device_id` (a copy keeps the version
///   of the write it copies), `NULL` otherwise.
/// - `op_audience` says which agency may pull each position and, for a case of another
///   agency, which fields (a JSON list of keys; `NULL` = every field). Pulls range-scan it.
/// - `records.state` is the record's merged state, sealed; `NULL` until first needed after
///   an upgrade (it is rebuilt from the log).
pub const CREATE_LOG: &str = r#"
CREATE TABLE op_log (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    record_id    BLOB NOT NULL REFERENCES records(record_id),
    owner_agency TEXT NOT NULL,
    hlc_wall     INTEGER NOT NULL,
    hlc_counter  INTEGER NOT NULL,
    hlc_device   BLOB,
    payload      BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX op_log_by_record ON op_log(record_id, position);
"#;

/// Referrals, the access they grant, commands, audit: new in version 3.
pub const CREATE_REFERRALS: &str = r#"
CREATE TABLE op_audience (
    agency   TEXT NOT NULL,
    position INTEGER NOT NULL REFERENCES op_log(position),
    fields   TEXT,
    PRIMARY KEY (agency, position)
) WITHOUT ROWID;
CREATE TABLE referrals (
    referral_id   BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    case_id       BLOB NOT NULL REFERENCES records(record_id),
    from_agency   TEXT NOT NULL REFERENCES agencies(code),
    to_agency     TEXT NOT NULL REFERENCES agencies(code),
    status        TEXT NOT NULL CHECK (status IN
                    ('sent', 'accepted', 'declined', 'cancelled', 'completed')),
    transfer      INTEGER NOT NULL,
    share_back    INTEGER NOT NULL,
    shared_fields TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX referrals_by_case ON referrals(case_id);
CREATE TABLE case_access (
    case_id        BLOB NOT NULL REFERENCES records(record_id),
    agency         TEXT NOT NULL REFERENCES agencies(code),
    referral_id    BLOB NOT NULL REFERENCES referrals(referral_id),
    fields         TEXT NOT NULL,
    from_position  INTEGER NOT NULL,
    until_position INTEGER,
    PRIMARY KEY (case_id, agency, referral_id)
);
CREATE TABLE referral_commands (
    device_id    BLOB NOT NULL REFERENCES devices(id),
    seq          INTEGER NOT NULL,
    referral_id  BLOB NOT NULL,
    result       TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    event          TEXT NOT NULL CHECK (event IN
                     ('referral_created', 'referral_transition', 'command_refused',
                      'shared_delivery', 'timeline_read')),
    agency         TEXT NOT NULL,
    device_id      BLOB,
    user_id        TEXT,
    record_id      BLOB,
    first_position INTEGER,
    last_position  INTEGER,
    ops            INTEGER,
    detail         TEXT
);
CREATE INDEX audit_log_by_record ON audit_log(record_id, at);
"#;

/// Attachments (version 4). `attachments.owner_agency` is the agency that declared it (the
/// case's owner then); `meta` is sealed (content type, label, SHA-256); `completed_at` is set
/// once every chunk arrived and the whole file matched its SHA-256. Chunks are sealed, bound
/// to their attachment and index (`crate::seal::attachment_chunk_ad`).
pub const CREATE_ATTACHMENTS: &str = r#"
CREATE TABLE attachments (
    attachment_id BLOB PRIMARY KEY NOT NULL,
    case_id       BLOB NOT NULL REFERENCES records(record_id),
    owner_agency  TEXT NOT NULL REFERENCES agencies(code),
    device_id     BLOB NOT NULL,
    field         TEXT NOT NULL,
    size          INTEGER NOT NULL,
    chunk_size    INTEGER NOT NULL,
    chunk_count   INTEGER NOT NULL,
    meta          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    completed_at  INTEGER
);
CREATE INDEX attachments_by_case ON attachments(case_id, created_at);
CREATE TABLE attachment_chunks (
    attachment_id BLOB NOT NULL REFERENCES attachments(attachment_id),
    idx           INTEGER NOT NULL,
    data          BLOB NOT NULL,
    PRIMARY KEY (attachment_id, idx)
);
"#;

/// Reports and duplicate finding: new in version 5, as shipped (never edit it: version 7
/// replaced the plain facts tables, [`SEAL_FACTS`]).
///
/// - `report_facts`: one row per case, the non-identifying columns reports group by (codes,
///   ISO3 countries, an age band, the intake date as `YYYY-MM-DD`; sets as comma-joined
///   codes). The owner agency is read from `records`, so a transfer moves the case at once.
/// - `service_facts`: one row per service (type, date, provider, case).
/// - `match_profiles` / `match_blocks`: keyed tokens of names, dates of birth, documents and
///   phone (concatenated 16-byte tokens) and the block keys candidates are found by.
/// - `duplicate_decisions`: a person's confirm/reject of a pair (`record_a` < `record_b`).
/// - `api_tokens`: bearer tokens issued to a user (reports, duplicate review), with grants.
pub const CREATE_REPORTS: &str = r#"
CREATE TABLE report_facts (
    record_id                BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    intake_date              TEXT,
    sex                      TEXT,
    age_group                TEXT,
    age_band                 TEXT,
    nationality              TEXT,
    country_of_assistance    TEXT,
    programme                TEXT,
    categories               TEXT NOT NULL,
    exploitation_types       TEXT NOT NULL,
    labour_sectors           TEXT NOT NULL,
    trafficking_type         TEXT,
    country_of_destination   TEXT,
    reintegration_assistance TEXT NOT NULL,
    status                   TEXT
);
CREATE INDEX report_facts_by_intake ON report_facts(intake_date);
CREATE TABLE service_facts (
    record_id       BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    case_id         BLOB NOT NULL,
    service_type    TEXT NOT NULL,
    service_date    TEXT NOT NULL,
    provider_agency TEXT NOT NULL
);
CREATE INDEX service_facts_by_case ON service_facts(case_id);
CREATE TABLE match_profiles (
    record_id   BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    name_tokens BLOB NOT NULL,
    dob         BLOB NOT NULL,
    documents   BLOB NOT NULL,
    phone       BLOB,
    nationality TEXT,
    sex         TEXT
);
CREATE TABLE match_blocks (
    block     BLOB NOT NULL,
    record_id BLOB NOT NULL REFERENCES records(record_id),
    PRIMARY KEY (block, record_id)
) WITHOUT ROWID;
CREATE INDEX match_blocks_by_record ON match_blocks(record_id);
CREATE TABLE duplicate_decisions (
    record_a   BLOB NOT NULL REFERENCES records(record_id),
    record_b   BLOB NOT NULL REFERENCES records(record_id),
    decision   TEXT NOT NULL CHECK (decision IN ('confirmed', 'rejected')),
    decided_at INTEGER NOT NULL,
    decided_by TEXT NOT NULL,
    PRIMARY KEY (record_a, record_b)
);
CREATE TABLE api_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id),
    grants     TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
"#;

/// Credential lifecycle: new in version 6. Run on a fresh database too, after
/// [`CREATE_REPORTS`] (which made `api_tokens` and is a shipped step).
///
/// - `id`: a random public id (32 hex digits) for listing and revoking; the secret's hash
///   stays the key but is never shown. The column is nullable because SQLite cannot add a
///   `NOT NULL` column without a default; every row gets one here and on insert, and the
///   unique index keeps them apart.
/// - `expires_at`: tokens issued before this version get [`crate::config::DEFAULT_TOKEN_DAYS`]
///   from the upgrade, so nothing lives forever; a `NULL` never matches `expires_at > now`,
///   so a row without one counts as expired.
/// - `api_tokens.agency`: the agency a token's reports are limited to. Tokens with a grant
///   or of a `system_admin` user were necessarily issued by a system admin and stay
///   network-wide; any other existing token may have come from an agency admin, so it is
///   limited to its user's agency (a system admin reissues a network-wide one where meant).
pub const CREDENTIAL_LIFECYCLE: &str = r#"
ALTER TABLE admin_tokens ADD COLUMN id TEXT;
ALTER TABLE admin_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE admin_tokens ADD COLUMN last_used_at INTEGER;
UPDATE admin_tokens SET id = lower(hex(randomblob(16))),
    expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000;
CREATE UNIQUE INDEX admin_tokens_by_id ON admin_tokens(id);
ALTER TABLE api_tokens ADD COLUMN id TEXT;
ALTER TABLE api_tokens ADD COLUMN agency TEXT REFERENCES agencies(code);
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
UPDATE api_tokens SET id = lower(hex(randomblob(16))),
    expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000;
UPDATE api_tokens SET agency = (SELECT u.agency FROM users u WHERE u.id = api_tokens.user_id)
    WHERE grants = ''
      AND NOT EXISTS (SELECT 1 FROM users u
                      WHERE u.id = api_tokens.user_id AND u.role = 'system_admin');
CREATE UNIQUE INDEX api_tokens_by_id ON api_tokens(id);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
ALTER TABLE enrollment_codes ADD COLUMN id TEXT;
ALTER TABLE enrollment_codes ADD COLUMN revoked_at INTEGER;
UPDATE enrollment_codes SET id = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX enrollment_codes_by_id ON enrollment_codes(id);
CREATE INDEX enrollment_codes_by_agency ON enrollment_codes(agency);
"#;

/// 6 → 7: the report and matching tables become sealed (`sqlite::sealed_facts`). Each row
/// holds one value sealed under the server key, bound to its table and record; in the clear
/// is only what SQL needs to find rows:
///
/// - `report_facts`: the record id and `intake_month` (`YYYY-MM`, indexed), so a period
///   report reads only the months it covers; the facts themselves (intake date, sex, age band,
///   countries, categories, exploitation, sectors, …) are in `facts`.
/// - `service_facts`: the record id and `case_id` (which `records.case_id` shows already), so
///   services are read in case order; type, date and provider are in `facts`.
/// - `match_profiles`: the record id; name, date of birth, document and phone tokens,
///   nationality and sex are in `profile`. The block keys of `match_blocks` stay keyed
///   tokens in the clear, because SQL finds shared blocks by them.
/// - `duplicate_decisions`: a keyed token of the pair (`pair_key`) and the decision, sealed
///   (`sqlite::decisions`): which two records a person linked is not in the clear. The plain
///   table is renamed `duplicate_decisions_v5`; the storage seals its rows and drops it when
///   it opens (decisions are people's work: they are moved, not rebuilt).
///
/// The rows are not converted here (SQL cannot seal): the tables are recreated empty and the
/// storage rebuilds them from the sealed states when it opens (`facts_version`). Fresh
/// databases are made by [`CREATE_REPORTS`] followed by this step.
pub const SEAL_FACTS: &str = r#"
DROP TABLE report_facts;
DROP TABLE service_facts;
DROP TABLE match_profiles;
CREATE TABLE report_facts (
    record_id    BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    intake_month TEXT,
    facts        BLOB NOT NULL
);
CREATE INDEX report_facts_by_intake_month ON report_facts(intake_month);
CREATE TABLE service_facts (
    record_id BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    case_id   BLOB NOT NULL,
    facts     BLOB NOT NULL
);
CREATE INDEX service_facts_by_case ON service_facts(case_id);
CREATE TABLE match_profiles (
    record_id BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    profile   BLOB NOT NULL
);
ALTER TABLE duplicate_decisions RENAME TO duplicate_decisions_v5;
CREATE TABLE duplicate_decisions (
    pair_key BLOB PRIMARY KEY NOT NULL,
    decision BLOB NOT NULL
);
"#;

/// 2 → 3: rebuilds `op_log` (drops the device foreign key, adds `hlc_device`, trades the
/// per-agency index for `op_audience`), keeping every row and the position high-water mark,
/// and addresses every existing operation to its owner agency, as pulls used to select them.
const MIGRATE_2_TO_3: &str = r#"
ALTER TABLE records ADD COLUMN state BLOB;
CREATE TABLE op_log_v3 (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    record_id    BLOB NOT NULL REFERENCES records(record_id),
    owner_agency TEXT NOT NULL,
    hlc_wall     INTEGER NOT NULL,
    hlc_counter  INTEGER NOT NULL,
    hlc_device   BLOB,
    payload      BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
INSERT INTO op_log_v3
    (position, device_id, seq, kind, record_id, owner_agency, hlc_wall, hlc_counter, payload)
    SELECT position, device_id, seq, kind, record_id, owner_agency, hlc_wall, hlc_counter, payload
    FROM op_log ORDER BY position;
DELETE FROM sqlite_sequence WHERE name = 'op_log_v3';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'op_log_v3', seq FROM sqlite_sequence WHERE name = 'op_log';
DROP TABLE op_log;
ALTER TABLE op_log_v3 RENAME TO op_log;
CREATE INDEX op_log_by_record ON op_log(record_id, position);
"#;

/// `MIGRATIONS[i]` upgrades version `i + 1` to `i + 2`. Never edit a shipped step: add one.
/// (Version 3 also runs [`CREATE_REFERRALS`] and the audience backfill, see [`prepare`].)
pub const MIGRATIONS: &[&str] = &[
    // 1 → 2
    "ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;",
    // 2 → 3
    MIGRATE_2_TO_3,
    // 3 → 4
    CREATE_ATTACHMENTS,
    // 4 → 5 (the rows are filled from sealed state when the storage opens)
    CREATE_REPORTS,
    // 5 → 6
    CREDENTIAL_LIFECYCLE,
    // 6 → 7 (likewise; run with `secure_delete` on, see [`prepare`])
    SEAL_FACTS,
    // 7 → 8
    DROP_BLOCKS_BY_RECORD,
    // 8 → 9
    DEVICE_CREDENTIAL_ROTATION,
    // 9 → 10
    CREATE_CASE_REVIEWS,
    // 10 → 11 (existing entries are chained in the same transaction, see [`prepare`])
    AUDIT_CHAIN,
    // 11 → 12
    RETENTION,
    // 12 → 13
    DEVICE_STORE_COUNTERS,
];

/// Step 9: device credentials expire and rotate (`service::credentials`). Beside the current
/// credential's hash a device row holds when it was issued, the hash of the next credential
/// (given to the device in a sync reply, current from its first use), the hash of the one
/// it replaced and of a next one replaced before its use (so a copy of an old credential is
/// told apart from a forged one). Credentials
/// issued before this step count from the upgrade, so no device is locked out by it.
pub const DEVICE_CREDENTIAL_ROTATION: &str = r#"
ALTER TABLE devices ADD COLUMN credential_issued_at INTEGER;
ALTER TABLE devices ADD COLUMN next_credential_hash BLOB;
ALTER TABLE devices ADD COLUMN retired_credential_hash BLOB;
ALTER TABLE devices ADD COLUMN superseded_credential_hash BLOB;
UPDATE devices SET credential_issued_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE UNIQUE INDEX devices_by_next_credential ON devices(next_credential_hash);
CREATE INDEX devices_by_retired_credential ON devices(retired_credential_hash);
CREATE INDEX devices_by_superseded_credential ON devices(superseded_credential_hash);
"#;

/// Step 12: records purged under retention, and a way to the records of a case.
pub const RETENTION: &str = r#"
ALTER TABLE records ADD COLUMN purged_at INTEGER;
CREATE INDEX records_by_case ON records(case_id) WHERE case_id IS NOT NULL;
"#;

/// Step 11: the audit log becomes a hash chain. The table is rebuilt (SQLite cannot change a
/// CHECK constraint in place) keeping every row and its id; `seq`, `chain_hash` and
/// `signature` are filled by the server, never by SQL.
pub const AUDIT_CHAIN: &str = r#"
CREATE TABLE audit_log_v9 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    event          TEXT NOT NULL CHECK (event IN
                     ('referral_created', 'referral_transition', 'command_refused',
                      'shared_delivery', 'timeline_read', 'checkpoint', 'case_purged')),
    agency         TEXT NOT NULL,
    device_id      BLOB,
    user_id        TEXT,
    record_id      BLOB,
    first_position INTEGER,
    last_position  INTEGER,
    ops            INTEGER,
    detail         TEXT,
    seq            INTEGER,
    chain_hash     BLOB,
    signature      BLOB
);
INSERT INTO audit_log_v9
    (id, at, event, agency, device_id, user_id, record_id, first_position, last_position, ops,
     detail)
    SELECT id, at, event, agency, device_id, user_id, record_id, first_position, last_position,
           ops, detail
    FROM audit_log ORDER BY id;
DROP TABLE audit_log;
ALTER TABLE audit_log_v9 RENAME TO audit_log;
CREATE INDEX audit_log_by_record ON audit_log(record_id, at);
CREATE UNIQUE INDEX audit_log_by_seq ON audit_log(seq);
CREATE INDEX audit_log_by_user ON audit_log(user_id);
"#;

/// Step 13: per device, the highest rollback counter its store sent and whether the store was
/// found copied back or tampered with ([`crate::service::device_store`]).
pub const DEVICE_STORE_COUNTERS: &str = r#"
CREATE TABLE device_store_counters (
    device_id BLOB PRIMARY KEY REFERENCES devices(id),
    counter   INTEGER NOT NULL,
    untrusted INTEGER NOT NULL DEFAULT 0
);
"#;

/// Step 8: a case's blocks are deleted by primary key, from the keys its old profile gives,
/// so the index by record costs bytes for nothing.
pub const DROP_BLOCKS_BY_RECORD: &str = "DROP INDEX IF EXISTS match_blocks_by_record;";

/// Step 10: cases that need review (`service::review`): one row per flagged case, its reasons
/// sealed under the server key bound to the case (`seal::case_review_ad`).
pub const CREATE_CASE_REVIEWS: &str = r#"
CREATE TABLE case_reviews (
    case_id    BLOB PRIMARY KEY NOT NULL REFERENCES records(record_id),
    agency     TEXT NOT NULL,
    flagged_at INTEGER NOT NULL,
    reasons    BLOB NOT NULL
);
CREATE INDEX case_reviews_by_agency ON case_reviews(agency, flagged_at);
"#;

/// Run after [`CREATE_REFERRALS`] when upgrading to version 3.
const BACKFILL_AUDIENCE: &str =
    "INSERT INTO op_audience (agency, position, fields) SELECT owner_agency, position, NULL FROM op_log;";

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
    upgrade_to(conn, SCHEMA_VERSION)
}

/// As [`prepare`], stopping at version `target` (tests build databases of past versions).
fn upgrade_to(conn: &mut Connection, target: i64) -> Result<(), StorageError> {
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
        tx.execute_batch(CREATE_LOG).map_err(super::backend)?;
        tx.execute_batch(CREATE_REFERRALS).map_err(super::backend)?;
        tx.execute_batch(CREATE_ATTACHMENTS)
            .map_err(super::backend)?;
        tx.execute_batch(CREATE_REPORTS).map_err(super::backend)?;
        tx.execute_batch(CREDENTIAL_LIFECYCLE)
            .map_err(super::backend)?;
        tx.execute_batch(SEAL_FACTS).map_err(super::backend)?;
        tx.execute_batch(DROP_BLOCKS_BY_RECORD)
            .map_err(super::backend)?;
        tx.execute_batch(DEVICE_CREDENTIAL_ROTATION)
            .map_err(super::backend)?;
        tx.execute_batch(CREATE_CASE_REVIEWS)
            .map_err(super::backend)?;
        tx.execute_batch(AUDIT_CHAIN).map_err(super::backend)?;
        tx.execute_batch(RETENTION).map_err(super::backend)?;
        tx.execute_batch(DEVICE_STORE_COUNTERS)
            .map_err(super::backend)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(super::backend)?;
        return tx.commit().map_err(super::backend);
    }
    // Steps drop tables that held per-person values in the clear (6 → 7): zero their pages
    // rather than leave them readable in the free list.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(super::backend)?;
    for from in version..target {
        let step = MIGRATIONS[(from - 1) as usize];
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(super::backend)?;
        tx.execute_batch(step).map_err(super::backend)?;
        if from + 1 == 3 {
            tx.execute_batch(CREATE_REFERRALS).map_err(super::backend)?;
            tx.execute_batch(BACKFILL_AUDIENCE)
                .map_err(super::backend)?;
        }
        if from + 1 == 11 {
            let chained = super::audit::chain_unchained(&tx)?;
            tracing::info!(entries = chained, "chained the audit log");
        }
        tx.pragma_update(None, "user_version", from + 1)
            .map_err(super::backend)?;
        tx.commit().map_err(super::backend)?;
        tracing::info!(from, to = from + 1, "migrated database schema");
    }
    conn.pragma_update(None, "secure_delete", "OFF")
        .map_err(super::backend)?;
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
    fn audit_entries_of_a_version_8_database_are_chained_by_step_9() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(SNAPSHOT_V1).unwrap();
        upgrade_to(&mut old, 8).unwrap();
        old.execute_batch(
            "INSERT INTO audit_log (at, event, agency, record_id, detail)
               VALUES (1, 'referral_created', 'iom_uga', x'0102030405060708090a0b0c0d0e0faa', 'sent'),
                      (2, 'shared_delivery', 'iom_eth', x'0102030405060708090a0b0c0d0e0faa', NULL),
                      (3, 'timeline_read', 'iom_eth', x'0102030405060708090a0b0c0d0e0fbb', NULL);
             DELETE FROM audit_log WHERE at = 2;",
        )
        .unwrap();
        prepare(&mut old).unwrap();
        let tx = old.transaction().unwrap();
        let mut rows = Vec::new();
        super::super::audit::scan(&tx, &crate::storage::AuditSelect::All, &mut |c| {
            rows.push(c)
        })
        .unwrap();
        let seqs: Vec<_> = rows.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, vec![Some(1), Some(2)], "numbered without the old gap");
        let key = crate::service::audit_chain::signing_key(&[1; 32]).verifying_key();
        let mut verifier = crate::service::audit_chain::ChainVerifier::new(&key, &[]);
        rows.iter().for_each(|c| verifier.visit(c));
        assert!(verifier.finish().intact());
        assert_eq!(rows[1].entry.detail, None);
        assert_eq!(rows[0].entry.detail.as_deref(), Some("sent"));
    }

    #[test]
    fn the_log_survives_its_rebuild_with_positions_and_audiences() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(SNAPSHOT_V1).unwrap();
        old.execute_batch(
            "INSERT INTO agencies VALUES ('iom_uga', 'IOM Uganda', 1);
             INSERT INTO users VALUES ('u1', 'iom_uga', 'caseworker', 'Staff', 1);
             INSERT INTO devices (id, agency, user_id, label, credential_hash, created_at)
               VALUES (x'01', 'iom_uga', 'u1', 'phone', x'02', 1);
             INSERT INTO records VALUES (x'aa', 'case', 'iom_uga', NULL, x'01', 1);
             INSERT INTO op_log (device_id, seq, kind, record_id, owner_agency, hlc_wall,
                                 hlc_counter, payload)
               VALUES (x'01', 1, 'case', x'aa', 'iom_uga', 5, 0, x'00'),
                      (x'01', 2, 'case', x'aa', 'iom_uga', 6, 0, x'00'),
                      (x'01', 3, 'case', x'aa', 'iom_uga', 7, 0, x'00');
             DELETE FROM op_log WHERE seq = 3;",
        )
        .unwrap();
        prepare(&mut old).unwrap();
        let count = |sql: &str| old.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM op_log"), 2);
        assert_eq!(
            count("SELECT count(*) FROM op_audience WHERE agency = 'iom_uga' AND fields IS NULL"),
            2,
            "every operation is addressed to its owner, as pulls used to select it"
        );
        assert_eq!(
            count("SELECT seq FROM sqlite_sequence WHERE name = 'op_log'"),
            3,
            "the position high-water mark is kept: no position is ever reused"
        );
        old.execute(
            "INSERT INTO op_log (device_id, seq, kind, record_id, owner_agency, hlc_wall,
                                 hlc_counter, payload)
               VALUES (x'01', 4, 'case', x'aa', 'iom_uga', 8, 0, x'00')",
            [],
        )
        .unwrap();
        assert_eq!(count("SELECT max(position) FROM op_log"), 4);
    }

    #[test]
    fn credentials_get_ids_and_expiry_and_old_grantless_api_tokens_are_limited() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SNAPSHOT_V1).unwrap();
        for (i, step) in MIGRATIONS[..4].iter().enumerate() {
            conn.execute_batch(step).unwrap();
            if i + 2 == 3 {
                conn.execute_batch(CREATE_REFERRALS).unwrap();
                conn.execute_batch(BACKFILL_AUDIENCE).unwrap();
            }
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO agencies VALUES ('iom_uga', 'IOM Uganda', 1);
             INSERT INTO users VALUES ('an', 'iom_uga', 'analyst', 'A', 1),
                                      ('sa', 'iom_uga', 'system_admin', 'S', 1);
             INSERT INTO admin_tokens (token_hash, agency, label, created_at)
               VALUES (x'01', NULL, 'first', 1), (x'02', 'iom_uga', 'agency', 1);
             INSERT INTO api_tokens (token_hash, user_id, grants, label, created_at)
               VALUES (x'03', 'an', '', 'maybe from an agency admin', 1),
                      (x'04', 'an', 'exact_counts', 'from a system admin', 1),
                      (x'05', 'sa', '', 'from a system admin', 1);
             INSERT INTO enrollment_codes (code_hash, agency, user_id, created_at, expires_at)
               VALUES (x'06', 'iom_uga', 'an', 1, 2);",
        )
        .unwrap();
        prepare(&mut conn).unwrap();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        for table in ["admin_tokens", "api_tokens", "enrollment_codes"] {
            assert_eq!(
                count(&format!(
                    "SELECT count(DISTINCT id) FROM {table} WHERE length(id) = 32"
                )),
                count(&format!("SELECT count(*) FROM {table}")),
                "{table}: every row has its own id"
            );
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM admin_tokens WHERE expires_at > {now_ms}
                   AND expires_at <= {now_ms} + 91 * 86400000"
            )),
            2,
            "old admin tokens expire like new ones"
        );
        assert_eq!(
            count("SELECT count(*) FROM api_tokens WHERE agency = 'iom_uga'"),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM api_tokens WHERE agency IS NULL AND token_hash != x'03'"),
            2,
            "tokens only a system admin could issue stay network-wide"
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(prepare(&mut conn).is_err());
    }
}
