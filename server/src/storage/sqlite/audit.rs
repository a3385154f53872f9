//! The audit log in SQLite: appending the entries [`crate::service::audit`] words at the link
//! it computed, reading the chain's head, and scanning entries in chain order.
//!
//! Entries name agencies, devices, users, records, positions and codes — never a field value
//! or a reason's text. The writer is the chain's serialization point (one writer at a time).

use super::{agency_col, backend, device_id_col, ms_col, record_id_col, to_sql_ms};
use crate::storage::{
    AuditEntry, AuditEvent, AuditLink, AuditSelect, ChainedAuditEntry, StorageError,
};
use rusqlite::{params, OptionalExtension, Row, Transaction};

pub(super) fn insert(
    tx: &Transaction<'_>,
    entry: &AuditEntry,
    link: &AuditLink,
    signature: Option<&[u8]>,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO audit_log
           (at, event, agency, device_id, user_id, record_id, first_position, last_position,
            ops, detail, seq, chain_hash, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            to_sql_ms(entry.at_ms),
            entry.event.as_str(),
            entry.agency.as_str(),
            entry.device.map(|d| d.as_bytes().to_vec()),
            entry.user_id,
            entry.record_id.map(|r| r.as_bytes().to_vec()),
            entry.first_position.map(to_sql_ms),
            entry.last_position.map(to_sql_ms),
            entry.ops,
            entry.detail,
            to_sql_ms(link.seq),
            link.hash.as_slice(),
            signature,
        ])
    })
    .map_err(backend)?;
    Ok(())
}

pub(super) fn head(tx: &Transaction<'_>) -> Result<Option<AuditLink>, StorageError> {
    tx.prepare_cached(
        "SELECT seq, chain_hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([], |row| {
            Ok((ms_col(row.get(0)?), row.get::<_, Option<Vec<u8>>>(1)?))
        })
        .optional()
    })
    .map_err(backend)?
    .map(|(seq, hash)| {
        let hash = hash
            .and_then(|h| <[u8; 32]>::try_from(h).ok())
            .ok_or_else(|| StorageError::Integrity("the audit chain's head has no hash".into()))?;
        Ok(AuditLink { seq, hash })
    })
    .transpose()
}

const COLUMNS: &str = "at, event, agency, device_id, user_id, record_id, first_position,
    last_position, ops, detail, seq, chain_hash, signature";

fn chained(row: &Row<'_>) -> rusqlite::Result<ChainedAuditEntry> {
    let event: String = row.get(1)?;
    Ok(ChainedAuditEntry {
        entry: AuditEntry {
            at_ms: ms_col(row.get(0)?),
            event: AuditEvent::parse(&event).ok_or_else(|| super::bad_column("event"))?,
            agency: agency_col(row.get(2)?)?,
            device: row
                .get::<_, Option<Vec<u8>>>(3)?
                .map(device_id_col)
                .transpose()?,
            user_id: row.get(4)?,
            record_id: row
                .get::<_, Option<Vec<u8>>>(5)?
                .map(record_id_col)
                .transpose()?,
            first_position: row.get::<_, Option<i64>>(6)?.map(ms_col),
            last_position: row.get::<_, Option<i64>>(7)?.map(ms_col),
            ops: row.get(8)?,
            detail: row.get(9)?,
        },
        seq: row.get::<_, Option<i64>>(10)?.map(ms_col),
        // A hash of the wrong length is as good as none: verification reports the row.
        hash: row
            .get::<_, Option<Vec<u8>>>(11)?
            .and_then(|h| <[u8; 32]>::try_from(h).ok()),
        signature: row.get(12)?,
    })
}

/// Visits the entries `select` names, by sequence number, rows outside the chain last.
pub(super) fn scan(
    tx: &Transaction<'_>,
    select: &AuditSelect,
    visit: &mut dyn FnMut(ChainedAuditEntry),
) -> Result<(), StorageError> {
    let (filter, arg): (&str, Option<rusqlite::types::Value>) = match select {
        AuditSelect::All => ("1 = 1", None),
        AuditSelect::Record(id) => ("record_id = ?1", Some(id.as_bytes().to_vec().into())),
        AuditSelect::User(user) => ("user_id = ?1", Some(user.clone().into())),
        AuditSelect::Checkpoints => ("event = 'checkpoint'", None),
    };
    let sql =
        format!("SELECT {COLUMNS} FROM audit_log WHERE {filter} ORDER BY seq IS NULL, seq, id");
    let mut stmt = tx.prepare(&sql).map_err(backend)?;
    let params: Vec<rusqlite::types::Value> = arg.into_iter().collect();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        visit(chained(row).map_err(backend)?);
    }
    Ok(())
}

/// Chains the rows a database kept from before the chain (schema step 9), oldest first, after
/// the last chained one.
pub(super) fn chain_unchained(tx: &Transaction<'_>) -> Result<u64, StorageError> {
    let mut head = head(tx)?;
    let mut unchained = Vec::new();
    {
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {COLUMNS}, id FROM audit_log WHERE seq IS NULL ORDER BY id"
            ))
            .map_err(backend)?;
        let mut rows = stmt.query([]).map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            let id: i64 = row.get(13).map_err(backend)?;
            unchained.push((id, chained(row).map_err(backend)?.entry));
        }
    }
    for (id, entry) in &unchained {
        let link = crate::service::audit_chain::next_link(head.as_ref(), entry);
        tx.execute(
            "UPDATE audit_log SET seq = ?1, chain_hash = ?2 WHERE id = ?3",
            params![to_sql_ms(link.seq), link.hash.as_slice(), id],
        )
        .map_err(backend)?;
        head = Some(link);
    }
    Ok(unchained.len() as u64)
}
