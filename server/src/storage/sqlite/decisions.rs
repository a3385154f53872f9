//! Duplicate decisions, sealed: a person's confirmation that two cases are one individual
//! (or rejection) links two agencies' records of one survivor, so the pair is not kept in the
//! clear.
//!
//! Each row is a keyed token of the pair ([`pair_key`]: `Sealer::match_token`, so a later
//! decision on the same pair replaces the earlier one in SQL) and the decision sealed under
//! the server key, bound to that token (`seal::duplicate_decision_ad`). Without the key a
//! copy of the database shows how many decisions there are, nothing of which records they
//! join. Decisions are few (people make them one by one), so reading them opens every row
//! and sorts in memory.
//!
//! A database from before version 7 kept decisions in plain columns: the migration renames
//! that table to `duplicate_decisions_v5`, and [`seal_plain_decisions`] moves its rows here
//! and drops it (pages zeroed) the first time the storage opens with the key.

use super::{backend, record_id_col};
use crate::seal::Sealer;
use crate::storage::sealed_decisions;
use crate::storage::{DuplicateDecision, StorageError};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

fn write(tx: &Transaction<'_>, sealer: &Sealer, d: &DuplicateDecision) -> Result<(), StorageError> {
    let (key, sealed) = sealed_decisions::seal(sealer, d);
    tx.prepare_cached(
        "INSERT INTO duplicate_decisions (pair_key, decision) VALUES (?1, ?2)
         ON CONFLICT (pair_key) DO UPDATE SET decision = excluded.decision",
    )
    .map_err(backend)?
    .execute(params![key.as_slice(), sealed])
    .map_err(backend)?;
    Ok(())
}

/// Every decision (or only confirmations), by time of decision, then pair.
pub(super) fn list(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    only_confirmed: bool,
) -> Result<Vec<DuplicateDecision>, StorageError> {
    let mut stmt = tx
        .prepare_cached("SELECT pair_key, decision FROM duplicate_decisions")
        .map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        let key: Vec<u8> = row.get(0).map_err(backend)?;
        let sealed: Vec<u8> = row.get(1).map_err(backend)?;
        let d = sealed_decisions::open(sealer, &key, &sealed)?;
        if !only_confirmed || d.confirmed {
            out.push(d);
        }
    }
    sealed_decisions::sort(&mut out);
    Ok(out)
}

/// Records (or replaces) a decision on two cases. `NotFound` when they are one record or
/// either is not a case.
pub(super) fn decide(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    d: &DuplicateDecision,
) -> Result<(), StorageError> {
    if d.record_a == d.record_b {
        return Err(StorageError::NotFound("pair of two cases"));
    }
    for record in [d.record_a, d.record_b] {
        let is_case: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM records WHERE record_id = ?1 AND kind = 'case'",
                [record.as_bytes()],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if !is_case {
            return Err(StorageError::NotFound("case"));
        }
    }
    write(tx, sealer, d)
}

/// Moves the decisions a version 5 database kept in the clear into the sealed table and
/// drops the plain one, its pages zeroed. Nothing to do once done (or on a fresh database,
/// whose empty plain table goes the same way). One transaction.
pub(super) fn seal_plain_decisions(
    conn: &mut Connection,
    sealer: &Sealer,
) -> Result<(), StorageError> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name = 'duplicate_decisions_v5'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    if exists.is_none() {
        return Ok(());
    }
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(backend)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let plain: Vec<DuplicateDecision> = {
        let mut stmt = tx
            .prepare(
                "SELECT record_a, record_b, decision, decided_at, decided_by
                 FROM duplicate_decisions_v5",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(DuplicateDecision {
                    record_a: record_id_col(row.get(0)?)?,
                    record_b: record_id_col(row.get(1)?)?,
                    confirmed: row.get::<_, String>(2)? == "confirmed",
                    decided_at_ms: super::ms_col(row.get(3)?),
                    decided_by: row.get(4)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)?
    };
    for d in &plain {
        write(&tx, sealer, d)?;
    }
    tx.execute_batch("DROP TABLE duplicate_decisions_v5;")
        .map_err(backend)?;
    tx.commit().map_err(backend)?;
    conn.pragma_update(None, "secure_delete", "OFF")
        .map_err(backend)?;
    if !plain.is_empty() {
        tracing::info!(decisions = plain.len(), "sealed duplicate decisions");
    }
    Ok(())
}
