//! Attachments in PostgreSQL: declarations, sealed chunks and the whole-file check.
//!
//! Each chunk is sealed under the server key bound to its attachment, index and chunk count
//! ([`attachment_chunk_ad`]); the description (content type, label, SHA-256) is sealed too.
//! An attachment is complete only once every chunk is present and the whole file matches the
//! declared SHA-256, checked in the transaction that stores the last chunk. Who may declare,
//! upload or read one is decided in [`crate::service::attachments`].

use super::Tx;
use super::{agency_of, backend, col, ms, record_id_of, to_sql};
use crate::seal::{attachment_chunk_ad, attachment_meta_ad, Sealer};
use crate::storage::port::{ChunkStored, StoredAttachment};
use crate::storage::StorageError;
use ::postgres::Row;
use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::attachments::{chunk_count, Sha256Digest};
use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sealed part of an attachment row (the same JSON as SQLite's).
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct SealedMeta {
    content_type: String,
    label: Option<String>,
    sha256: Sha256Digest,
}

const SELECT_ROW: &str = "SELECT attachment_id, case_id, owner_agency, field, size, chunk_size,
        chunk_count, meta, created_at, completed_at FROM attachments";

fn attachment_of(row: &Row, sealer: &Sealer) -> Result<StoredAttachment, StorageError> {
    let id = record_id_of(col(row, 0)?)?;
    let integrity = || StorageError::Integrity("an attachment's description does not open".into());
    let plain = zeroize::Zeroizing::new(
        sealer
            .open(&attachment_meta_ad(id), col(row, 7)?)
            .map_err(|_| integrity())?,
    );
    let meta: SealedMeta = serde_json::from_slice(&plain).map_err(|_| integrity())?;
    let small = |i: usize| -> Result<u32, StorageError> {
        u32::try_from(col::<i64>(row, i)?).map_err(|_| super::malformed("attachment size"))
    };
    Ok(StoredAttachment {
        id,
        case_id: record_id_of(col(row, 1)?)?,
        declared_by: agency_of(col(row, 2)?)?,
        field: col(row, 3)?,
        size: ms(col(row, 4)?),
        chunk_size: small(5)?,
        chunk_count: small(6)?,
        content_type: meta.content_type,
        label: meta.label,
        sha256: meta.sha256,
        created_at_ms: ms(col(row, 8)?),
        complete: col::<Option<i64>>(row, 9)?.is_some(),
    })
}

pub(super) fn load(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    id: RecordId,
) -> Result<Option<StoredAttachment>, StorageError> {
    tx.query_opt(
        &format!("{SELECT_ROW} WHERE attachment_id = $1"),
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .map(|row| attachment_of(&row, sealer))
    .transpose()
}

pub(super) fn of_case(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    case: RecordId,
) -> Result<Vec<StoredAttachment>, StorageError> {
    tx.query(
        &format!("{SELECT_ROW} WHERE case_id = $1 ORDER BY created_at, attachment_id"),
        &[&case.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| attachment_of(row, sealer))
    .collect()
}

pub(super) fn insert(
    tx: &mut Tx<'_>,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &id.as_bytes().as_slice(),
            &declaration.case_id.as_bytes().as_slice(),
            &declared_by.as_str(),
            &device.as_bytes().as_slice(),
            &declaration.field,
            &to_sql(declaration.size),
            &i64::from(declaration.chunk_size),
            &i64::from(count),
            &sealer.seal(&attachment_meta_ad(id), &plain),
            &to_sql(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn held_chunks(tx: &mut Tx<'_>, id: RecordId) -> Result<Vec<u32>, StorageError> {
    tx.query(
        "SELECT idx FROM attachment_chunks WHERE attachment_id = $1 ORDER BY idx",
        &[&id.as_bytes().as_slice()],
    )
    .map_err(backend)?
    .iter()
    .map(|row| u32::try_from(col::<i64>(row, 0)?).map_err(|_| super::malformed("chunk index")))
    .collect()
}

pub(super) fn store_chunk(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    row: &StoredAttachment,
    index: u32,
    bytes: &[u8],
    now_ms: u64,
) -> Result<ChunkStored, StorageError> {
    tx.execute(
        "INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)
         ON CONFLICT (attachment_id, idx) DO NOTHING",
        &[
            &row.id.as_bytes().as_slice(),
            &i64::from(index),
            &sealer.seal(&attachment_chunk_ad(row.id, index, row.chunk_count), bytes),
        ],
    )
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
            "UPDATE attachments SET completed_at = $2 WHERE attachment_id = $1",
            &[&row.id.as_bytes().as_slice(), &to_sql(now_ms)],
        )
        .map_err(backend)?;
        Ok(ChunkStored::Complete)
    } else {
        tx.execute(
            "DELETE FROM attachment_chunks WHERE attachment_id = $1",
            &[&row.id.as_bytes().as_slice()],
        )
        .map_err(backend)?;
        Ok(ChunkStored::Mismatch)
    }
}

pub(super) fn open_chunk(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    row: &StoredAttachment,
    index: u32,
) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError> {
    let found = tx
        .query_opt(
            "SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2",
            &[&row.id.as_bytes().as_slice(), &i64::from(index)],
        )
        .map_err(backend)?
        .ok_or(StorageError::NotFound("attachment chunk"))?;
    sealer
        .open(
            &attachment_chunk_ad(row.id, index, row.chunk_count),
            col(&found, 0)?,
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| StorageError::Integrity("an attachment chunk does not open".into()))
}
