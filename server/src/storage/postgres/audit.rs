//! The audit log in PostgreSQL: appending the entries [`crate::service::audit`] words at the
//! link it computed, reading the chain's head, and scanning entries in chain order.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text.
//!
//! **Serialization point.** [`head`] takes the position lock ([`super::oplog::POSITION_LOCK`],
//! the one log appends take, so a transaction that does both never waits on two locks) and
//! holds it to commit: transactions that extend the chain commit one after the other. A
//! serializable transaction's snapshot may still predate the last commit, so it can read a
//! stale head; its insert then collides with the committed entry's sequence number on the
//! unique index, and [`insert`] marks that for the transaction runner to run the work again
//! on a fresh snapshot — the chain never forks and never skips a number.

use super::Tx;
use super::{agency_of, backend, col, device_id_of, ms, record_id_of, to_sql};
use crate::storage::{
    AuditEntry, AuditEvent, AuditLink, AuditSelect, ChainedAuditEntry, StorageError,
};
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::Row;

pub(super) fn insert(
    tx: &mut Tx<'_>,
    entry: &AuditEntry,
    link: &AuditLink,
    signature: Option<&[u8]>,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO audit_log
           (at, event, agency, device_id, user_id, record_id, first_position, last_position,
            ops, detail, seq, chain_hash, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &to_sql(entry.at_ms),
            &entry.event.as_str(),
            &entry.agency.as_str(),
            &entry.device.map(|d| d.as_bytes().to_vec()),
            &entry.user_id,
            &entry.record_id.map(|r| r.as_bytes().to_vec()),
            &entry.first_position.map(to_sql),
            &entry.last_position.map(to_sql),
            &entry.ops.map(i64::from),
            &entry.detail,
            &to_sql(link.seq),
            &link.hash.as_slice(),
            &signature,
        ],
    )
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            // Another transaction took this number after our snapshot: run again.
            super::retry_later();
        }
        backend(e)
    })?;
    Ok(())
}

pub(super) fn head(tx: &mut Tx<'_>) -> Result<Option<AuditLink>, StorageError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&super::oplog::POSITION_LOCK],
    )
    .map_err(backend)?;
    tx.query_opt(
        "SELECT seq, chain_hash FROM audit_log WHERE seq IS NOT NULL
         ORDER BY seq DESC LIMIT 1",
        &[],
    )
    .map_err(backend)?
    .map(|row| {
        let hash = col::<Option<&[u8]>>(&row, 1)?
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| StorageError::Integrity("the audit chain's head has no hash".into()))?;
        Ok(AuditLink {
            seq: ms(col(&row, 0)?),
            hash,
        })
    })
    .transpose()
}

const COLUMNS: &str = "at, event, agency, device_id, user_id, record_id, first_position,
    last_position, ops, detail, seq, chain_hash, signature";

fn chained(row: &Row) -> Result<ChainedAuditEntry, StorageError> {
    Ok(ChainedAuditEntry {
        entry: AuditEntry {
            at_ms: ms(col(row, 0)?),
            event: AuditEvent::parse(col(row, 1)?)
                .ok_or_else(|| super::malformed("audit event"))?,
            agency: agency_of(col(row, 2)?)?,
            device: col::<Option<&[u8]>>(row, 3)?
                .map(device_id_of)
                .transpose()?,
            user_id: col(row, 4)?,
            record_id: col::<Option<&[u8]>>(row, 5)?
                .map(record_id_of)
                .transpose()?,
            first_position: col::<Option<i64>>(row, 6)?.map(ms),
            last_position: col::<Option<i64>>(row, 7)?.map(ms),
            ops: col::<Option<i64>>(row, 8)?
                .map(|n| u32::try_from(n).map_err(|_| super::malformed("audit count")))
                .transpose()?,
            detail: col(row, 9)?,
        },
        seq: col::<Option<i64>>(row, 10)?.map(ms),
        // A hash of the wrong length is as good as none: verification reports the row.
        hash: col::<Option<&[u8]>>(row, 11)?.and_then(|h| <[u8; 32]>::try_from(h).ok()),
        signature: col(row, 12)?,
    })
}

/// Visits the entries `select` names, by sequence number, rows outside the chain last.
pub(super) fn scan(
    tx: &mut Tx<'_>,
    select: &AuditSelect,
    visit: &mut dyn FnMut(ChainedAuditEntry),
) -> Result<(), StorageError> {
    let record;
    let (filter, arg): (&str, Option<&(dyn ToSql + Sync)>) = match select {
        AuditSelect::All => ("TRUE", None),
        AuditSelect::Record(id) => {
            record = id.as_bytes().to_vec();
            ("record_id = $1", Some(&record))
        }
        AuditSelect::User(user) => ("user_id = $1", Some(user)),
        AuditSelect::Checkpoints => ("event = 'checkpoint'", None),
    };
    let sql =
        format!("SELECT {COLUMNS} FROM audit_log WHERE {filter} ORDER BY seq ASC NULLS LAST, id");
    let mut rows = tx.query_raw(&sql, arg.into_iter()).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        visit(chained(&row)?);
    }
    Ok(())
}

/// Chains the rows a database kept from before the chain (schema step 3), oldest first, after
/// the last chained one. Runs in the migration's transaction.
pub(super) fn chain_unchained(tx: &mut ::postgres::Transaction<'_>) -> Result<u64, StorageError> {
    let mut head = tx
        .query_opt(
            "SELECT seq, chain_hash FROM audit_log WHERE seq IS NOT NULL
             ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .map_err(backend)?
        .map(|row| -> Result<AuditLink, StorageError> {
            Ok(AuditLink {
                seq: ms(col(&row, 0)?),
                hash: col::<&[u8]>(&row, 1)?
                    .try_into()
                    .map_err(|_| super::malformed("audit hash"))?,
            })
        })
        .transpose()?;
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS}, id FROM audit_log WHERE seq IS NULL ORDER BY id"),
            &[],
        )
        .map_err(backend)?;
    for row in &rows {
        let id: i64 = col(row, 13)?;
        let entry = chained(row)?.entry;
        let link = crate::service::audit_chain::next_link(head.as_ref(), &entry);
        tx.execute(
            "UPDATE audit_log SET seq = $1, chain_hash = $2 WHERE id = $3",
            &[&to_sql(link.seq), &link.hash.as_slice(), &id],
        )
        .map_err(backend)?;
        head = Some(link);
    }
    Ok(rows.len() as u64)
}
