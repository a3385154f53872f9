//! Attachments in SQLite: declarations, sealed chunks and the whole-file check.
//!
//! Each chunk is sealed under the server key bound to its attachment, index and chunk count
//! ([`attachment_chunk_ad`]); the description (content type, label, SHA-256) is sealed too.
//! An attachment is complete only once every chunk is present and the whole file matches the
//! declared SHA-256, checked in the transaction that stores the last chunk. Who may declare,
//! upload or read one is decided in [`crate::service::attachments`].

use super::{agency_col, backend, ms_col, state, to_sql_ms};
use crate::seal::{attachment_chunk_ad, attachment_meta_ad, Sealer};
use crate::storage::port::{ChunkStored, StoredAttachment};
use crate::storage::StorageError;
use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::attachments::{chunk_count, Sha256Digest};
use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sealed part of an attachment row.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct SealedMeta {
    content_type: String,
    label: Option<String>,
    sha256: Sha256Digest,
}

const SELECT_ROW: &str = "SELECT attachment_id, case_id, owner_agency, field, size, chunk_size,
        chunk_count, meta, created_at, completed_at FROM attachments";

fn load_rows(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    clause: &str,
    key: &RecordId,
) -> Result<Vec<StoredAttachment>, StorageError> {
    type Raw = (
        Vec<u8>,
        Vec<u8>,
        String,
        String,
        i64,
        i64,
        i64,
        Vec<u8>,
        i64,
        Option<i64>,
    );
    let raws: Vec<Raw> = tx
        .prepare_cached(&format!("{SELECT_ROW} {clause}"))
        .and_then(|mut stmt| {
            stmt.query_map([key.as_bytes()], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect()
        })
        .map_err(backend)?;
    raws.into_iter()
        .map(
            |(id, case_id, owner, field, size, chunk_size, count, sealed, created, done)| {
                let id = state::record_col(id)?;
                let integrity =
                    || StorageError::Integrity("an attachment's description does not open".into());
                let plain = zeroize::Zeroizing::new(
                    sealer
                        .open(&attachment_meta_ad(id), &sealed)
                        .map_err(|_| integrity())?,
                );
                let meta: SealedMeta = serde_json::from_slice(&plain).map_err(|_| integrity())?;
                Ok(StoredAttachment {
                    id,
                    case_id: state::record_col(case_id)?,
                    declared_by: agency_col(owner).map_err(backend)?,
                    field,
                    size: size.max(0) as u64,
                    chunk_size: chunk_size.max(0) as u32,
                    chunk_count: count.max(0) as u32,
                    content_type: meta.content_type,
                    label: meta.label,
                    sha256: meta.sha256,
                    created_at_ms: ms_col(created),
                    complete: done.is_some(),
                })
            },
        )
        .collect()
}

pub(super) fn load(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: RecordId,
) -> Result<Option<StoredAttachment>, StorageError> {
    Ok(load_rows(tx, sealer, "WHERE attachment_id = ?1", &id)?.pop())
}

pub(super) fn of_case(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    case: RecordId,
) -> Result<Vec<StoredAttachment>, StorageError> {
    load_rows(
        tx,
        sealer,
        "WHERE case_id = ?1 ORDER BY created_at, attachment_id",
        &case,
    )
}

pub(super) fn insert(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: RecordId,
    declared_by: &AgencyCode,
    device: DeviceId,
    declaration: &Declaration,
    now_ms: u64,
) -> Result<(), StorageError> {
    let meta = SealedMeta {
        content_type: declaration.content_type.clone(),
        label: declaration.label.clone(),
        sha256: declaration.sha256,
    };
    let count = chunk_count(declaration.size, declaration.chunk_size);
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("serializes"));
    tx.execute(
        "INSERT INTO attachments (attachment_id, case_id, owner_agency, device_id, field, size,
             chunk_size, chunk_count, meta, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id.as_bytes(),
            declaration.case_id.as_bytes(),
            declared_by.as_str(),
            device.as_bytes(),
            declaration.field,
            declaration.size as i64,
            declaration.chunk_size,
            count,
            sealer.seal(&attachment_meta_ad(id), &plain),
            to_sql_ms(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn held_chunks(tx: &Transaction<'_>, id: RecordId) -> Result<Vec<u32>, StorageError> {
    tx.prepare_cached("SELECT idx FROM attachment_chunks WHERE attachment_id = ?1 ORDER BY idx")
        .and_then(|mut stmt| stmt.query_map([id.as_bytes()], |r| r.get(0))?.collect())
        .map_err(backend)
}

pub(super) fn store_chunk(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    row: &StoredAttachment,
    index: u32,
    bytes: &[u8],
    now_ms: u64,
) -> Result<ChunkStored, StorageError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO attachment_chunks (attachment_id, idx, data) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            row.id.as_bytes(),
            index,
            sealer.seal(&attachment_chunk_ad(row.id, index, row.chunk_count), bytes)
        ])
    })
    .map_err(backend)?;
    let held = held_chunks(tx, row.id)?.len() as u32;
    if held < row.chunk_count {
        return Ok(ChunkStored::Missing(row.chunk_count - held));
    }
    // Every chunk is here: check the whole file before calling it complete.
    let mut hasher = Sha256::new();
    for i in 0..row.chunk_count {
        hasher.update(&*open_chunk(tx, sealer, row, i)?);
    }
    if Sha256Digest(hasher.finalize().into()) == row.sha256 {
        tx.execute(
            "UPDATE attachments SET completed_at = ?2 WHERE attachment_id = ?1",
            params![row.id.as_bytes(), to_sql_ms(now_ms)],
        )
        .map_err(backend)?;
        Ok(ChunkStored::Complete)
    } else {
        tx.execute(
            "DELETE FROM attachment_chunks WHERE attachment_id = ?1",
            [row.id.as_bytes()],
        )
        .map_err(backend)?;
        Ok(ChunkStored::Mismatch)
    }
}

pub(super) fn open_chunk(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    row: &StoredAttachment,
    index: u32,
) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError> {
    let sealed: Vec<u8> = tx
        .prepare_cached("SELECT data FROM attachment_chunks WHERE attachment_id = ?1 AND idx = ?2")
        .and_then(|mut stmt| stmt.query_row(params![row.id.as_bytes(), index], |r| r.get(0)))
        .map_err(backend)?;
    sealer
        .open(
            &attachment_chunk_ad(row.id, index, row.chunk_count),
            &sealed,
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| StorageError::Integrity("an attachment chunk does not open".into()))
}
