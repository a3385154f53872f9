//! Attachments in SQLite: declarations, sealed chunks, completion and who may read them.
//!
//! Each chunk is sealed under the server key bound to its attachment, index and chunk count
//! ([`attachment_chunk_ad`]); the description (content type, label, SHA-256) is sealed too.
//! An attachment is complete only once every chunk is present and the whole file matches the
//! declared SHA-256, checked in the transaction that stores the last chunk. Reads go through
//! [`attachment_visible`]; a read by an agency other than the case's owner and the declaring
//! agency is audited (`shared_delivery`, detail `attachment`), like shared case data.

use super::audit::{self, Subject};
use super::{agency_col, backend, ms_col, state, to_sql_ms};
use crate::seal::{attachment_chunk_ad, attachment_meta_ad, Sealer};
use crate::storage::{AuditEvent, DeviceAuth, StorageError};
use crate::visibility::attachment_visible;
use fieldcase_core::attachments::wire::{AttachmentInfo, ChunkReceipt, Declaration, UploadState};
use fieldcase_core::attachments::{chunk_count, chunk_len, Sha256Digest};
use fieldcase_core::{AgencyCode, RecordId, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sealed part of an attachment row.
#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct SealedMeta {
    content_type: String,
    label: Option<String>,
    sha256: Sha256Digest,
}

/// An attachment row, its sealed part opened.
struct Row {
    id: RecordId,
    case_id: RecordId,
    declared_by: AgencyCode,
    field: String,
    size: u64,
    chunk_size: u32,
    chunk_count: u32,
    meta: SealedMeta,
    created_at: u64,
    complete: bool,
}

impl Row {
    fn info(&self) -> AttachmentInfo {
        AttachmentInfo {
            id: self.id,
            case_id: self.case_id,
            field: self.field.clone(),
            content_type: self.meta.content_type.clone(),
            size: self.size,
            chunk_size: self.chunk_size,
            chunk_count: self.chunk_count,
            sha256: self.meta.sha256,
            label: self.meta.label.clone(),
            complete: self.complete,
            created_at_ms: self.created_at,
        }
    }
}

const SELECT_ROW: &str = "SELECT attachment_id, case_id, owner_agency, field, size, chunk_size,
        chunk_count, meta, created_at, completed_at FROM attachments";

fn load_rows(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    clause: &str,
    key: &RecordId,
) -> Result<Vec<Row>, StorageError> {
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
                Ok(Row {
                    id,
                    case_id: state::record_col(case_id)?,
                    declared_by: agency_col(owner).map_err(backend)?,
                    field,
                    size: size.max(0) as u64,
                    chunk_size: chunk_size.max(0) as u32,
                    chunk_count: count.max(0) as u32,
                    meta: serde_json::from_slice(&plain).map_err(|_| integrity())?,
                    created_at: ms_col(created),
                    complete: done.is_some(),
                })
            },
        )
        .collect()
}

fn load_row(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    id: RecordId,
) -> Result<Option<Row>, StorageError> {
    Ok(load_rows(tx, sealer, "WHERE attachment_id = ?1", &id)?.pop())
}

/// The kind and current owner of a record.
fn case_owner(tx: &Transaction<'_>, case: RecordId) -> Result<Option<AgencyCode>, StorageError> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT kind, owner_agency FROM records WHERE record_id = ?1",
            [case.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    match row {
        Some((kind, owner)) if kind == RecordKind::Case.as_str() => {
            Ok(Some(agency_col(owner).map_err(backend)?))
        }
        _ => Ok(None),
    }
}

fn held_chunks(tx: &Transaction<'_>, id: RecordId) -> Result<Vec<u32>, StorageError> {
    tx.prepare_cached("SELECT idx FROM attachment_chunks WHERE attachment_id = ?1 ORDER BY idx")
        .and_then(|mut stmt| stmt.query_map([id.as_bytes()], |r| r.get(0))?.collect())
        .map_err(backend)
}

fn upload_state(tx: &Transaction<'_>, row: &Row) -> Result<UploadState, StorageError> {
    if row.complete {
        return Ok(UploadState {
            chunk_count: row.chunk_count,
            missing: Vec::new(),
            complete: true,
        });
    }
    let held = held_chunks(tx, row.id)?;
    let missing = (0..row.chunk_count)
        .filter(|i| held.binary_search(i).is_err())
        .collect();
    Ok(UploadState {
        chunk_count: row.chunk_count,
        missing,
        complete: false,
    })
}

pub(super) fn declare(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
    declaration: &Declaration,
    now_ms: u64,
) -> Result<UploadState, StorageError> {
    if case_owner(tx, declaration.case_id)?.as_ref() != Some(&device.agency) {
        // A case of another agency and one that does not exist look the same.
        return Err(StorageError::NotFound("case"));
    }
    let meta = SealedMeta {
        content_type: declaration.content_type.clone(),
        label: declaration.label.clone(),
        sha256: declaration.sha256,
    };
    let count = chunk_count(declaration.size, declaration.chunk_size);
    if let Some(existing) = load_row(tx, sealer, id)? {
        let same = existing.declared_by == device.agency
            && existing.case_id == declaration.case_id
            && existing.field == declaration.field
            && existing.size == declaration.size
            && existing.chunk_size == declaration.chunk_size
            && existing.meta == meta;
        if !same {
            return Err(StorageError::Conflict(
                "this attachment id was declared before with a different description",
            ));
        }
        return upload_state(tx, &existing);
    }
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&meta).expect("serializes"));
    tx.execute(
        "INSERT INTO attachments (attachment_id, case_id, owner_agency, device_id, field, size,
             chunk_size, chunk_count, meta, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id.as_bytes(),
            declaration.case_id.as_bytes(),
            device.agency.as_str(),
            device.id.as_bytes(),
            declaration.field,
            declaration.size as i64,
            declaration.chunk_size,
            count,
            sealer.seal(&attachment_meta_ad(id), &plain),
            to_sql_ms(now_ms),
        ],
    )
    .map_err(backend)?;
    Ok(UploadState {
        chunk_count: count,
        missing: (0..count).collect(),
        complete: false,
    })
}

/// The row of an attachment the device's agency declared; `None` for any other.
fn own_row(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
) -> Result<Option<Row>, StorageError> {
    Ok(load_row(tx, sealer, id)?.filter(|row| row.declared_by == device.agency))
}

pub(super) fn state_of(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
) -> Result<Option<UploadState>, StorageError> {
    own_row(tx, sealer, device, id)?
        .map(|row| upload_state(tx, &row))
        .transpose()
}

pub(super) fn put_chunk(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
    index: u32,
    bytes: &[u8],
    now_ms: u64,
) -> Result<ChunkReceipt, StorageError> {
    let row = own_row(tx, sealer, device, id)?.ok_or(StorageError::NotFound("attachment"))?;
    if row.complete {
        return Ok(ChunkReceipt {
            missing: 0,
            complete: true,
        });
    }
    if index >= row.chunk_count {
        return Err(StorageError::Rejected(format!(
            "chunk index {index} is past the last chunk ({} chunks)",
            row.chunk_count
        )));
    }
    let expected = chunk_len(row.size, row.chunk_size, index);
    if bytes.len() as u64 != expected {
        return Err(StorageError::Rejected(format!(
            "chunk {index} must be {expected} bytes, it is {}",
            bytes.len()
        )));
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO attachment_chunks (attachment_id, idx, data) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id.as_bytes(),
            index,
            sealer.seal(&attachment_chunk_ad(id, index, row.chunk_count), bytes)
        ])
    })
    .map_err(backend)?;
    let held = held_chunks(tx, id)?.len() as u32;
    if held < row.chunk_count {
        return Ok(ChunkReceipt {
            missing: row.chunk_count - held,
            complete: false,
        });
    }
    // Every chunk is here: check the whole file before calling it complete.
    let mut hasher = Sha256::new();
    for i in 0..row.chunk_count {
        hasher.update(&*open_chunk(tx, sealer, &row, i)?);
    }
    if Sha256Digest(hasher.finalize().into()) == row.meta.sha256 {
        tx.execute(
            "UPDATE attachments SET completed_at = ?2 WHERE attachment_id = ?1",
            params![id.as_bytes(), to_sql_ms(now_ms)],
        )
        .map_err(backend)?;
        Ok(ChunkReceipt {
            missing: 0,
            complete: true,
        })
    } else {
        tracing::warn!(attachment = %id, "attachment failed its whole-file check; its chunks are dropped");
        tx.execute(
            "DELETE FROM attachment_chunks WHERE attachment_id = ?1",
            [id.as_bytes()],
        )
        .map_err(backend)?;
        Ok(ChunkReceipt {
            missing: row.chunk_count,
            complete: false,
        })
    }
}

fn open_chunk(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    row: &Row,
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

/// Whether the device may see `row`, and whether that is as another agency (to audit).
fn visibility(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    row: &Row,
) -> Result<Option<bool>, StorageError> {
    let Some(owner) = case_owner(tx, row.case_id)? else {
        return Ok(None);
    };
    let shared = device.agency != owner && device.agency != row.declared_by;
    let access = if shared {
        super::referrals::open_access(tx, row.case_id)?.remove(&device.agency)
    } else {
        None
    };
    let case = if shared && access.is_some() {
        state::load_state(tx, sealer, row.case_id)?
            .map(|s| s.values())
            .unwrap_or_default()
    } else {
        Default::default()
    };
    let visible = attachment_visible(
        &device.agency,
        &row.declared_by,
        &owner,
        &row.field,
        access.as_ref(),
        &case,
    );
    Ok(visible.then_some(shared))
}

fn audit_shared_read(
    tx: &Transaction<'_>,
    device: &DeviceAuth,
    id: RecordId,
    index: Option<u32>,
    now_ms: u64,
) -> Result<(), StorageError> {
    audit::record(
        tx,
        AuditEvent::SharedDelivery,
        device,
        Subject {
            record: Some(id),
            ops: index,
            detail: Some(if index.is_some() {
                "attachment_chunk"
            } else {
                "attachment"
            }),
            ..Default::default()
        },
        now_ms,
    )
}

pub(super) fn info(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
    now_ms: u64,
) -> Result<Option<AttachmentInfo>, StorageError> {
    let Some(row) = load_row(tx, sealer, id)? else {
        return Ok(None);
    };
    match visibility(tx, sealer, device, &row)? {
        None => Ok(None),
        Some(shared) => {
            if shared {
                audit_shared_read(tx, device, id, None, now_ms)?;
            }
            Ok(Some(row.info()))
        }
    }
}

pub(super) fn chunk(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    id: RecordId,
    index: u32,
    now_ms: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(row) = load_row(tx, sealer, id)? else {
        return Ok(None);
    };
    if !row.complete || index >= row.chunk_count {
        return Ok(None);
    }
    match visibility(tx, sealer, device, &row)? {
        None => Ok(None),
        Some(shared) => {
            if shared {
                audit_shared_read(tx, device, id, Some(index), now_ms)?;
            }
            Ok(Some(open_chunk(tx, sealer, &row, index)?.to_vec()))
        }
    }
}

pub(super) fn of_case(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    device: &DeviceAuth,
    case: RecordId,
) -> Result<Option<Vec<AttachmentInfo>>, StorageError> {
    let Some(owner) = case_owner(tx, case)? else {
        return Ok(None);
    };
    let rows = load_rows(
        tx,
        sealer,
        "WHERE case_id = ?1 ORDER BY created_at, attachment_id",
        &case,
    )?;
    let has_access = owner == device.agency
        || rows.iter().any(|r| r.declared_by == device.agency)
        || super::referrals::open_access(tx, case)?.contains_key(&device.agency);
    if !has_access {
        return Ok(None);
    }
    let mut visible = Vec::new();
    for row in rows {
        if visibility(tx, sealer, device, &row)?.is_some() {
            visible.push(row.info());
        }
    }
    Ok(Some(visible))
}
