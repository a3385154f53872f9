//! Keeping the sealed report facts and the sealed, keyed match profile of each record in step
//! with its merged state (the at-rest format: [`crate::storage::sealed_facts`]).
//!
//! [`refresh`] runs in the transaction that merges an operation into a record's state
//! (`state::merge_into_state`), so facts never describe a state that was rolled back. A
//! database upgraded from before version 7 (or whose derivation changed: [`FACTS_VERSION`])
//! has its facts rebuilt from the sealed states by [`rebuild_if_stale`] when it opens, in one
//! transaction; the rows it replaces are overwritten with zeros (`secure_delete`), so facts
//! a version 5 database kept in the clear do not linger in the file's free pages.

use super::state::load_state;
use super::{backend, record_id_col};
use crate::reports::facts::{CaseFacts, ServiceFacts};
use crate::reports::matching::MatchProfile;
use crate::seal::Sealer;
use crate::storage::StorageError;
use crate::storage::{sealed_facts, sealed_profile};
use fieldcase_core::merge::RecordState;
use fieldcase_core::{RecordId, RecordKind};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

/// Version of the derivation of facts and match profiles. Bump it when either changes: the
/// next start rebuilds every row from the sealed states.
/// Version 2: rows sealed under the server key (version 1 kept them in the clear).
/// Version 3: match profiles keep folded name words and the date of birth; more blocking
/// passes, with 8-byte block keys (issue 12).
/// Version 4: the code-and-initial blocking pass (`reports::matching`).
/// Version 5: match profiles keep the victim's story (destination and exploitation types)
/// and each name word as spelled (before folding).
/// Version 6: an Arabic wāw written for a long vowel folds to `u` (`normalize::name_words`),
/// which changes the folded words and block keys of names in Arabic script.
/// Version 7: the `h` of a name written without vowels is voiced for its phonetic code
/// (`reports::matching::h_voiced`), which changes block keys of names in Arabic script.
/// Version 8: the Russian endings `-off` and `-yev` fold as `-ov` and `-ev`
/// (`normalize::fold_word`), which changes folded words and block keys.
pub const FACTS_VERSION: &str = "8";

/// Rewrites the facts (and match profile) of one record from its state after a merge.
pub(super) fn refresh(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match state.kind {
        RecordKind::Case => refresh_case(tx, sealer, record, state),
        RecordKind::Service => refresh_service(tx, sealer, record, state),
        _ => Ok(()),
    }
}

fn refresh_case(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    let case = crate::reports::facts::read_case(&state.values());
    write_case(tx, sealer, record, &case)
}

/// Writes the facts and match profile of a case read from its state (or, for benchmarks,
/// generated: see `SqliteStorage::bulk_load_cases`). The facts are sealed; only the intake
/// month stays in the clear ([`sealed_facts::intake_month`]).
pub(super) fn write_case(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    case: &fieldcase_core::model::Case,
) -> Result<(), StorageError> {
    let f = CaseFacts::from_case(case);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO report_facts (record_id, intake_month, facts)
         VALUES (?1, ?2, ?3)",
    )
    .map_err(backend)?
    .execute(params![
        record.as_bytes(),
        sealed_facts::intake_month(f.intake_date),
        sealed_facts::seal_case(sealer, record, &f),
    ])
    .map_err(backend)?;
    write_profile(
        tx,
        sealer,
        record,
        MatchProfile::of_case(case, sealer).as_ref(),
    )
}

/// Writes (or, with `None`, removes) a case's match profile, sealed, and its keyed blocks.
pub(super) fn write_profile(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    profile: Option<&MatchProfile>,
) -> Result<(), StorageError> {
    // The old blocks are those the old profile gives (blocks are a function of the profile
    // and the key): deleted by primary key, so `match_blocks` needs no index by record.
    let old: Option<Vec<u8>> = tx
        .prepare_cached("SELECT profile FROM match_profiles WHERE record_id = ?1")
        .map_err(backend)?
        .query_row([record.as_bytes()], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    if let Some(sealed) = old {
        let old = sealed_profile::open_profile(sealer, record, &sealed)?;
        let mut delete = tx
            .prepare_cached("DELETE FROM match_blocks WHERE block = ?1 AND record_id = ?2")
            .map_err(backend)?;
        for block in &old.blocks(sealer) {
            delete
                .execute(params![block.as_slice(), record.as_bytes()])
                .map_err(backend)?;
        }
    }
    let Some(p) = profile else {
        tx.prepare_cached("DELETE FROM match_profiles WHERE record_id = ?1")
            .map_err(backend)?
            .execute([record.as_bytes()])
            .map_err(backend)?;
        return Ok(());
    };
    tx.prepare_cached("INSERT OR REPLACE INTO match_profiles (record_id, profile) VALUES (?1, ?2)")
        .map_err(backend)?
        .execute(params![
            record.as_bytes(),
            sealed_profile::seal_profile(sealer, record, p)
        ])
        .map_err(backend)?;
    let mut insert = tx
        .prepare_cached("INSERT OR IGNORE INTO match_blocks (block, record_id) VALUES (?1, ?2)")
        .map_err(backend)?;
    for block in &p.blocks(sealer) {
        insert
            .execute(params![block.as_slice(), record.as_bytes()])
            .map_err(backend)?;
    }
    Ok(())
}

fn refresh_service(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    record: RecordId,
    state: &RecordState,
) -> Result<(), StorageError> {
    match ServiceFacts::from_fields(&state.values()) {
        Some(f) => tx
            .prepare_cached(
                "INSERT OR REPLACE INTO service_facts (record_id, case_id, facts)
                 VALUES (?1, ?2, ?3)",
            )
            .map_err(backend)?
            .execute(params![
                record.as_bytes(),
                f.case_id.as_bytes(),
                sealed_facts::seal_service(sealer, record, &f),
            ])
            .map_err(backend)?,
        None => tx
            .prepare_cached("DELETE FROM service_facts WHERE record_id = ?1")
            .map_err(backend)?
            .execute([record.as_bytes()])
            .map_err(backend)?,
    };
    Ok(())
}

/// Rebuilds every facts row and match profile from the sealed states when they were made by
/// another derivation (or never: a database upgraded to version 7). One transaction: a
/// crash leaves the old rows and the old version, and the next start does it again. The
/// deleted rows are zeroed on disk (`secure_delete` for this rebuild).
pub(super) fn rebuild_if_stale(conn: &mut Connection, sealer: &Sealer) -> Result<(), StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let current: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM server_meta WHERE key = 'facts_version'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    if current.as_deref() == Some(FACTS_VERSION.as_bytes()) {
        return Ok(());
    }
    tx.pragma_update(None, "secure_delete", "ON")
        .map_err(backend)?;
    tx.execute_batch(
        // The facts of purged records stay (their state is gone; figures for past
        // periods keep counting them, in the derivation they were purged with).
        "DELETE FROM report_facts WHERE record_id NOT IN
           (SELECT record_id FROM records WHERE purged_at IS NOT NULL);
         DELETE FROM service_facts WHERE record_id NOT IN
           (SELECT record_id FROM records WHERE purged_at IS NOT NULL);
         DELETE FROM match_blocks; DELETE FROM match_profiles;",
    )
    .map_err(backend)?;
    let records: Vec<RecordId> = {
        let mut stmt = tx
            .prepare("SELECT record_id FROM records WHERE kind IN ('case', 'service')")
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| record_id_col(row.get(0)?))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    let mut rebuilt = 0usize;
    for record in records {
        if let Some(state) = load_state(&tx, sealer, record)? {
            refresh(&tx, sealer, record, &state)?;
            rebuilt += 1;
        }
    }
    tx.execute(
        "INSERT INTO server_meta (key, value) VALUES ('facts_version', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [FACTS_VERSION.as_bytes()],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    conn.pragma_update(None, "secure_delete", "OFF")
        .map_err(backend)?;
    if rebuilt > 0 {
        tracing::info!(records = rebuilt, "rebuilt report facts from sealed states");
    }
    Ok(())
}
