//! Schema migrations: numbered v→v+1 steps, each run in its own transaction.
//!
//! `PRAGMA user_version` holds the version. A store newer than this build refuses to open
//! rather than guess. A step may also rebuild sealed data with the store's keys (migrations run
//! when a store is opened with its passphrase). The test at the bottom migrates a version-1
//! snapshot to the latest and compares it with a fresh database, so a step that forgets
//! something shows up as a diff.

use super::error::StoreError;
use super::summary::rebuild_search_data;
use crate::crypto::StoreKeys;
use rusqlite::{Connection, Transaction};

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = 12;

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

/// Review-flags step (version 5 here; self-contained, so a merge with other new steps can
/// renumber it): cases a spreadsheet import let in although they break a rule between fields,
/// with where they came from and why (sealed). Local to the device; a flag goes when its case
/// passes every rule.
const V_REVIEW_FLAGS: &str = "
CREATE TABLE review_flags (
    record_id  BLOB PRIMARY KEY,
    flagged_ms INTEGER NOT NULL,
    flag       BLOB NOT NULL
) WITHOUT ROWID;
";

/// Attachment upload progress step (version 6 here; self-contained, so a merge with other
/// new steps can renumber it): how many chunks of an attachment the server has confirmed, so
/// an app can show "uploading 3 of 32" across restarts, not only while a sync runs.
const V_ATTACHMENT_PROGRESS: &str = "
ALTER TABLE attachments ADD COLUMN chunks_on_server INTEGER NOT NULL DEFAULT 0;
";

/// Search summaries step (version 7 here; self-contained, so a merge with other new steps can
/// renumber it): one sealed summary per case, so searches and lists unseal a few fields
/// instead of whole cases. Triggers remove a case's summary and index tokens with the case
/// row, so no way of removing a case can leave them behind. The step then builds every
/// existing case's summary and adds the index tokens of the newer kinds (spelling and
/// prefix), which needs the store's keys ([`Step::rebuild_search`]).
const V_SEARCH_SUMMARIES: &str = "
CREATE TABLE case_summaries (
    id      BLOB PRIMARY KEY,
    summary BLOB NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER case_summaries_follow_records AFTER DELETE ON records
WHEN old.kind = 'case'
BEGIN
    DELETE FROM case_summaries WHERE id = old.id;
    DELETE FROM search_index WHERE record_id = old.id;
END;
";

/// Name-pairs step (version 8 here; self-contained, so a merge with other new steps can
/// renumber it): no schema change; every existing case gets the index tokens of pairs of its
/// name words (`store::name_pairs`), which two-word searches read
/// ([`Step::rebuild_search`]).
const V_NAME_PAIRS: &str = "";

/// Index-by-token-only step (version 9 here; self-contained, so a merge with other new steps
/// can renumber it): the blind index loses its second b-tree, by record. It doubled the
/// inserts of every token (a first sync of 10,000 cases writes some 300,000) and a quarter of
/// the file, only so a case row's delete could find its tokens; the one code path that
/// deletes cases (a purge) now computes them from the case's state and deletes them by key.
/// The trigger keeps removing the summary with its case.
const V_INDEX_BY_TOKEN_ONLY: &str = "
DROP INDEX search_index_by_record;
DROP TRIGGER case_summaries_follow_records;
CREATE TRIGGER case_summaries_follow_records AFTER DELETE ON records
WHEN old.kind = 'case'
BEGIN
    DELETE FROM case_summaries WHERE id = old.id;
END;
";

/// Pending-index step (version 10 here; self-contained, so a merge with other new steps can
/// renumber it): cases a sync or an import brought in whose index tokens are not written yet
/// (`store::pending_index`). Each new case's row and summary are written as its page or batch
/// arrives and the tokens of all of them at the end, in one sorted pass; a store closed in
/// between finds the list here and finishes it when next unlocked.
const V_PENDING_INDEX: &str = "
CREATE TABLE search_index_pending (
    record_id BLOB PRIMARY KEY,
    -- Raised by every write of the case while it waits: tokens made from an earlier state
    -- (on a thread beside the sync) are told from current ones.
    version   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
";

/// Refolding step (version 11 here; self-contained, so a merge with other new steps can
/// renumber it): the folding of names changed (an Arabic wāw written for a long vowel folds
/// to `u`, not `w`), so every index token is dropped and rebuilt from the cases' states
/// ([`Step::rebuild_search`]): tokens of the old folding would neither be found by a search
/// nor removed with their case.
const V_REFOLD_NAMES: &str = "DELETE FROM search_index;";

/// Second refolding step (version 12 here), as [`V_REFOLD_NAMES`]: the Russian family-name
/// endings `-off` and `-yev` now fold as `-ov` and `-ev` (`normalize::fold_word`). The comment
/// keeps the step's SQL its own.
const V_REFOLD_RUSSIAN_ENDINGS: &str = "DELETE FROM search_index; -- endings -off, -yev";

/// One v→v+1 step: its schema change and whether it must then rebuild what search reads.
struct Step {
    sql: &'static str,
    /// Rebuild every case's summary and index tokens (with the store's keys) after the SQL.
    rebuild_search: bool,
}

const fn schema_only(sql: &'static str) -> Step {
    Step {
        sql,
        rebuild_search: false,
    }
}

/// The steps, in order: `STEPS[n]` takes a store from version `n` to `n + 1`.
const STEPS: [Step; LATEST_VERSION as usize] = [
    schema_only(V1),
    schema_only(V2),
    schema_only(V3),
    schema_only(V_ATTACHMENTS),
    schema_only(V_REVIEW_FLAGS),
    schema_only(V_ATTACHMENT_PROGRESS),
    Step {
        sql: V_SEARCH_SUMMARIES,
        rebuild_search: true,
    },
    Step {
        sql: V_NAME_PAIRS,
        rebuild_search: true,
    },
    schema_only(V_INDEX_BY_TOKEN_ONLY),
    schema_only(V_PENDING_INDEX),
    Step {
        sql: V_REFOLD_NAMES,
        rebuild_search: true,
    },
    Step {
        sql: V_REFOLD_RUSSIAN_ENDINGS,
        rebuild_search: true,
    },
];

/// What can stop a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("the store was written by a newer fieldcase (schema version {found}, this build knows {LATEST_VERSION}); update the app")]
    TooNew { found: u32 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Rebuilding summaries and index tokens failed (a case that does not unseal, say).
    #[error("rebuilding the search data failed: {0}")]
    Rebuild(#[source] Box<StoreError>),
}

/// The schema version of an open database.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the schema to [`LATEST_VERSION`], one step per transaction. `keys` are the store's:
/// some steps rebuild sealed data.
pub fn migrate(conn: &mut Connection, keys: &StoreKeys) -> Result<(), MigrationError> {
    migrate_to(conn, keys, LATEST_VERSION)
}

fn migrate_to(conn: &mut Connection, keys: &StoreKeys, target: u32) -> Result<(), MigrationError> {
    let found = version(conn)?;
    if found > LATEST_VERSION {
        return Err(MigrationError::TooNew { found });
    }
    for step in found..target {
        let tx = conn.transaction()?;
        apply_step(&tx, keys, step)?;
        tx.commit()?;
    }
    Ok(())
}

fn apply_step(tx: &Transaction<'_>, keys: &StoreKeys, from: u32) -> Result<(), MigrationError> {
    let step = &STEPS[from as usize];
    tx.execute_batch(step.sql)?;
    if step.rebuild_search {
        rebuild_search_data(tx, keys).map_err(|e| MigrationError::Rebuild(Box::new(e)))?;
    }
    tx.pragma_update(None, "user_version", from + 1)?;
    Ok(())
}

/// The full schema DDL of the latest version, for the plaintext benchmark baseline.
pub fn latest_schema_sql() -> String {
    STEPS.iter().map(|step| step.sql).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{DataKey, IndexKind};
    use crate::hlc::Hlc;
    use crate::ids::{DeviceId, RecordId};
    use crate::merge::op::RecordKind;
    use crate::merge::{FieldState, RecordState};
    use crate::store::records::record_aad;
    use crate::store::summary::read_summary;
    use serde_json::json;

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn keys() -> StoreKeys {
        DataKey::generate().derive_store_keys()
    }

    /// Writes a sealed case row the way versions before summaries did: record and the
    /// phonetic name token only, no summary.
    /// The schema version a step starts from (steps are found by their SQL, so renumbering
    /// them in a merge needs no change here).
    fn version_before(sql: &str) -> u32 {
        STEPS.iter().position(|s| std::ptr::eq(s.sql, sql)).unwrap() as u32
    }

    #[test]
    fn the_name_pairs_step_indexes_word_pairs_of_every_existing_case() {
        let (keys, mut conn, amina) = case_before(V_NAME_PAIRS, "Amina");
        let pair = |conn: &Connection, kind, value: &str| {
            indexed(conn, &keys.index.token(kind, value), &amina)
        };
        assert_eq!(pair(&conn, IndexKind::NamePair, "amina nakato"), 0);
        migrate(&mut conn, &keys).unwrap();
        assert_eq!(pair(&conn, IndexKind::NamePair, "amina nakato"), 1);
        let nakato = &crate::normalize::folded_words("Nakato")[0];
        let prefix_pair = format!("{nakato} ami");
        assert_eq!(pair(&conn, IndexKind::NamePairPrefix, &prefix_pair), 1);
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
    }

    #[test]
    fn the_refolding_step_replaces_every_token_of_the_old_folding() {
        let (keys, mut conn, mansour) = case_before(V_REFOLD_NAMES, "منصور");
        // The token the folding before this step made of `منصور` (its wāw a `w`, folded `v`).
        let stale = stale_token(&conn, &keys, "mnsvr", &mansour);
        let indexed = |conn: &Connection, token: &[u8]| indexed(conn, token, &mansour);
        assert_eq!(indexed(&conn, &stale), 1);
        migrate(&mut conn, &keys).unwrap();
        assert_eq!(indexed(&conn, &stale), 0);
        let current = crate::normalize::name_tokens("منصور");
        assert_eq!(current, vec!["mnsar".to_owned()]);
        let token = keys.index.token(IndexKind::Name, &current[0]);
        assert_eq!(indexed(&conn, &token), 1);
        let nakato = keys
            .index
            .token(IndexKind::Name, &crate::normalize::name_tokens("Nakato")[0]);
        assert_eq!(
            indexed(&conn, &nakato),
            1,
            "the other tokens are rebuilt too"
        );
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
    }

    #[test]
    fn the_second_refolding_step_replaces_the_tokens_of_russian_endings() {
        let (keys, mut conn, ivanoff) = case_before(V_REFOLD_RUSSIAN_ENDINGS, "Ivanoff");
        // The token the folding before this step made of `Ivanoff`.
        let stale = stale_token(&conn, &keys, "ivanaf", &ivanoff);
        assert_eq!(indexed(&conn, &stale, &ivanoff), 1);
        migrate(&mut conn, &keys).unwrap();
        assert_eq!(indexed(&conn, &stale, &ivanoff), 0);
        let current = crate::normalize::name_tokens("Ivanoff");
        assert_eq!(current, crate::normalize::name_tokens("Ivanov"));
        let token = keys.index.token(IndexKind::Name, &current[0]);
        assert_eq!(indexed(&conn, &token, &ivanoff), 1);
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
    }

    /// Indexes `id` under the name token of `folded`, as an older folding did; the token.
    fn stale_token(conn: &Connection, keys: &StoreKeys, folded: &str, id: &RecordId) -> Vec<u8> {
        let stale = keys.index.token(IndexKind::Name, folded);
        conn.execute(
            "INSERT INTO search_index (token, record_id) VALUES (?1, ?2)",
            rusqlite::params![&stale[..], &id.as_bytes()[..]],
        )
        .unwrap();
        stale.to_vec()
    }

    /// A store at the version before `step`, holding one case (`given` Nakato) written the
    /// way early versions did.
    fn case_before(step: &str, given: &str) -> (StoreKeys, Connection, RecordId) {
        let keys = keys();
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, &keys, version_before(step)).unwrap();
        let id = old_style_case(&conn, &keys, given, "Nakato");
        (keys, conn, id)
    }

    /// How many index rows lead from `token` to the case `id` (0 or 1).
    fn indexed(conn: &Connection, token: &[u8], id: &RecordId) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM search_index WHERE token = ?1 AND record_id = ?2",
            rusqlite::params![token, &id.as_bytes()[..]],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn old_style_case(conn: &Connection, keys: &StoreKeys, given: &str, family: &str) -> RecordId {
        let id = RecordId::new();
        let hlc = Hlc {
            wall_ms: 1_700_000_000_000,
            counter: 0,
            device: DeviceId::from_bytes([7; 16]),
        };
        let mut state = RecordState::new(RecordKind::Case);
        for (key, value) in [
            ("given_name", json!(given)),
            ("family_name", json!(family)),
            ("sex", json!("female")),
            ("date_of_birth", json!("1990-04")),
            ("nationality", json!("UGA")),
            ("status", json!("active")),
        ] {
            state.fields.insert(key.into(), FieldState { value, hlc });
        }
        let sealed = keys
            .seal
            .seal(record_aad(&id), &crate::store::codec::encode(&state));
        conn.execute(
            "INSERT INTO records (id, kind, owner_agency, status, created_ms, updated_ms, state)
             VALUES (?1, 'case', 'iom_uga', 'active', 1, 1, ?2)",
            rusqlite::params![&id.as_bytes()[..], sealed],
        )
        .unwrap();
        let token = keys
            .index
            .token(IndexKind::Name, &crate::normalize::name_tokens(given)[0]);
        conn.execute(
            "INSERT INTO search_index (token, record_id) VALUES (?1, ?2)",
            rusqlite::params![&token[..], &id.as_bytes()[..]],
        )
        .unwrap();
        id
    }

    #[test]
    fn an_old_store_migrates_to_the_same_schema_as_a_fresh_one() {
        let keys = keys();
        let mut old = Connection::open_in_memory().unwrap();
        migrate_to(&mut old, &keys, 1).unwrap();
        old.execute(
            "INSERT INTO outbox (seq, record_id, op) VALUES (1, x'00', x'01')",
            [],
        )
        .unwrap();
        migrate(&mut old, &keys).unwrap();

        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh, &keys).unwrap();

        assert_eq!(schema(&old), schema(&fresh));
        assert_eq!(version(&old).unwrap(), LATEST_VERSION);
        let kept: i64 = old
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "migration must keep data");
    }

    #[test]
    fn the_summaries_step_builds_a_summary_and_new_tokens_for_every_existing_case() {
        let keys = keys();
        let mut conn = Connection::open_in_memory().unwrap();
        let before_summaries = version_before(V_SEARCH_SUMMARIES);
        migrate_to(&mut conn, &keys, before_summaries).unwrap();
        let amina = old_style_case(&conn, &keys, "Amina", "Nakato");
        let grace = old_style_case(&conn, &keys, "Grace", "Achieng");
        migrate(&mut conn, &keys).unwrap();

        let summary = read_summary(&conn, &keys, &amina).unwrap().unwrap();
        assert_eq!(summary.id, amina);
        assert_eq!(summary.given_name.as_deref(), Some("Amina"));
        assert_eq!(summary.family_name.as_deref(), Some("Nakato"));
        assert_eq!(summary.sex.as_deref(), Some("female"));
        assert_eq!(summary.date_of_birth.as_deref(), Some("1990-04"));
        assert_eq!(summary.nationality.as_deref(), Some("UGA"));
        assert_eq!(summary.status, "active");
        assert_eq!(summary.owner_agency, "iom_uga");
        let grace_summary = read_summary(&conn, &keys, &grace).unwrap().unwrap();
        assert_eq!(grace_summary.given_name.as_deref(), Some("Grace"));

        let has = |kind, value: &str, id: &RecordId| -> bool {
            let token = keys.index.token(kind, value);
            conn.query_row(
                "SELECT count(*) FROM search_index WHERE token = ?1 AND record_id = ?2",
                rusqlite::params![&token[..], &id.as_bytes()[..]],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                == 1
        };
        assert!(has(IndexKind::NameSpelling, "nakato", &amina));
        assert!(has(IndexKind::NamePrefix, "nak", &amina));
        assert!(has(IndexKind::NamePrefix, "nakat", &amina));
        assert!(
            !has(IndexKind::NamePrefix, "nakato", &amina),
            "longer than indexed"
        );
        assert!(has(IndexKind::NamePrefix, "gra", &grace));
        assert!(!has(IndexKind::NamePrefix, "gra", &amina));
    }

    #[test]
    fn the_summaries_step_changes_nothing_when_a_case_does_not_unseal() {
        let keys = keys();
        let mut conn = Connection::open_in_memory().unwrap();
        let before_summaries = version_before(V_SEARCH_SUMMARIES);
        migrate_to(&mut conn, &keys, before_summaries).unwrap();
        old_style_case(&conn, &keys, "Amina", "Nakato");
        // A case sealed under another store's key: the rebuild cannot read it.
        old_style_case(&conn, &self::keys(), "Grace", "Achieng");
        let failed = migrate(&mut conn, &keys);
        assert!(
            matches!(failed, Err(MigrationError::Rebuild(_))),
            "{failed:?}"
        );
        assert_eq!(version(&conn).unwrap(), before_summaries);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'case_summaries'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the failed step was rolled back whole");
    }

    #[test]
    fn removing_a_case_row_removes_its_summary() {
        let keys = keys();
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, &keys, version_before(V_SEARCH_SUMMARIES)).unwrap();
        let amina = old_style_case(&conn, &keys, "Amina", "Nakato");
        migrate(&mut conn, &keys).unwrap();
        conn.execute("DELETE FROM records WHERE id = ?1", [&amina.as_bytes()[..]])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM case_summaries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn attachments_of_an_earlier_store_start_with_no_chunk_confirmed() {
        let mut old = Connection::open_in_memory().unwrap();
        let keys = keys();
        migrate_to(&mut old, &keys, 5).unwrap();
        old.execute(
            "INSERT INTO attachments (id, case_id, created_ms, size, chunk_size, chunk_count, meta)
             VALUES (x'01', x'02', 1, 10, 65536, 1, x'03')",
            [],
        )
        .unwrap();
        migrate(&mut old, &keys).unwrap();
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
            migrate(&mut conn, &keys()),
            Err(MigrationError::TooNew { .. })
        ));
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let keys = keys();
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &keys).unwrap();
        migrate(&mut conn, &keys).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
    }
}
