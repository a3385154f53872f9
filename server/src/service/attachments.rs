//! Attachments: who may declare and upload one, and who may see it.
//!
//! Only a device of the agency that owns a case declares attachments on it, and only the
//! declaring agency uploads its chunks (a case of another agency, an unknown case and an
//! attachment of another agency all answer "not found"). Reading goes through
//! [`attachment_visible`]: the declaring agency sees it; any other agency — the case's owner
//! after a transfer included — only through a grant that shares the field the attachment
//! hangs on, while the case's consent names it, and only if the agency that granted it could
//! see the attachment itself (so an onward referral never passes on a photo its sender never
//! had). Every read by an agency other than the declaring one is audited in the same
//! transaction. The same rule ([`CaseView::sees`]) decides who receives the attachment's
//! record in the log (`attachment_records.rs`).

use super::audience::counted_grants;
use super::audit::{self, Subject};
use super::visibility::attachment_visible;
use crate::storage::port::{CaseAccess, ChunkStored, ReferralRow, StoreTx, StoredAttachment};
use crate::storage::{AuditEvent, DeviceAuth, Storage, StorageError};
use fieldcase_core::attachments::chunk_len;
use fieldcase_core::attachments::wire::{AttachmentInfo, ChunkReceipt, Declaration, UploadState};
use fieldcase_core::model::Fields;
use fieldcase_core::{AgencyCode, RecordId, RecordKind};

fn info(row: &StoredAttachment) -> AttachmentInfo {
    AttachmentInfo {
        id: row.id,
        case_id: row.case_id,
        field: row.field.clone(),
        content_type: row.content_type.clone(),
        size: row.size,
        chunk_size: row.chunk_size,
        chunk_count: row.chunk_count,
        sha256: row.sha256,
        label: row.label.clone(),
        complete: row.complete,
        created_at_ms: row.created_at_ms,
    }
}

/// The owner of a case (`None` when the record is unknown or not a case).
fn case_owner(tx: &mut dyn StoreTx, case: RecordId) -> Result<Option<AgencyCode>, StorageError> {
    Ok(tx
        .record(case)?
        .filter(|r| r.kind == RecordKind::Case)
        .map(|r| r.owner_agency))
}

/// Records that attachment `id` exists and answers with the chunks still missing. The same
/// declaration again gets the same kind of answer; a different one is a `Conflict`. The
/// declaration's own rules (type, size, field, label) are checked by the caller.
pub fn declare(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
    declaration: &Declaration,
    now_ms: u64,
) -> Result<UploadState, StorageError> {
    crate::storage::write(storage, |tx| {
        if case_owner(tx, declaration.case_id)?.as_ref() != Some(&device.agency) {
            // A case of another agency and one that does not exist look the same.
            return Err(StorageError::NotFound("case"));
        }
        if let Some(existing) = tx.attachment(id)? {
            let same = existing.declared_by == device.agency
                && existing.case_id == declaration.case_id
                && existing.field == declaration.field
                && existing.size == declaration.size
                && existing.chunk_size == declaration.chunk_size
                && existing.content_type == declaration.content_type
                && existing.label == declaration.label
                && existing.sha256 == declaration.sha256;
            if !same {
                return Err(StorageError::Conflict(
                    "this attachment id was declared before with a different description",
                ));
            }
            return tx.upload_state(&existing);
        }
        tx.insert_attachment(id, &device.agency, device.id, declaration, now_ms)?;
        let row = tx
            .attachment(id)?
            .ok_or_else(|| StorageError::Integrity("a declared attachment is missing".into()))?;
        tx.upload_state(&row)
    })
}

/// The attachment if the device's agency declared it.
fn own(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    id: RecordId,
) -> Result<Option<StoredAttachment>, StorageError> {
    Ok(tx
        .attachment(id)?
        .filter(|a| a.declared_by == device.agency))
}

/// The upload state of an attachment declared by the device's agency (`None` otherwise).
pub fn upload_state(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
) -> Result<Option<UploadState>, StorageError> {
    crate::storage::read(storage, |tx| {
        own(tx, device, id)?
            .map(|row| tx.upload_state(&row))
            .transpose()
    })
}

/// Stores one chunk of an attachment declared by the device's agency, whose SHA-256 the
/// caller has checked. When the last missing chunk arrives the whole file is checked against
/// the declared SHA-256: on a match the attachment is complete, otherwise every chunk is
/// dropped to be sent again.
pub fn put_chunk(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
    index: u32,
    bytes: &[u8],
    now_ms: u64,
) -> Result<ChunkReceipt, StorageError> {
    crate::storage::write(storage, |tx| {
        let row = own(tx, device, id)?.ok_or(StorageError::NotFound("attachment"))?;
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
        Ok(match tx.store_chunk(&row, index, bytes, now_ms)? {
            ChunkStored::Missing(missing) => ChunkReceipt {
                missing,
                complete: false,
            },
            ChunkStored::Complete => {
                // Devices learn of the attachment from the log, in the same transaction.
                super::attachment_records::append_on_completion(tx, &row, now_ms)?;
                ChunkReceipt {
                    missing: 0,
                    complete: true,
                }
            }
            ChunkStored::Mismatch => {
                tracing::warn!(attachment = %id, "attachment failed its whole-file check; its chunks are dropped");
                ChunkReceipt {
                    missing: row.chunk_count,
                    complete: false,
                }
            }
        })
    })
}

/// What deciding the visibility of a case's attachments needs, read once.
pub(super) struct CaseView {
    access: Vec<CaseAccess>,
    referrals: Vec<ReferralRow>,
    values: Fields,
}

impl CaseView {
    pub(super) fn read(tx: &mut dyn StoreTx, case: RecordId) -> Result<Self, StorageError> {
        Ok(CaseView {
            access: tx.case_access(case)?,
            referrals: tx.referrals_of_case(case)?,
            values: tx
                .record_state(case)?
                .map(|s| s.values())
                .unwrap_or_default(),
        })
    }

    /// Every agency that holds or held a grant on the case: the only candidates, besides the
    /// declaring agency, that [`CaseView::sees`] can answer yes for.
    pub(super) fn agencies_with_grants(&self) -> std::collections::BTreeSet<AgencyCode> {
        self.access.iter().map(|g| g.agency.clone()).collect()
    }

    /// Whether `agency` may see `row` (see the module docs). `depth` bounds the walk back
    /// through the chain of grants (each grant has a grantor; a chain is never longer than the
    /// grants of the case).
    pub(super) fn sees(&self, agency: &AgencyCode, row: &StoredAttachment, depth: usize) -> bool {
        if agency == &row.declared_by {
            return true;
        }
        if depth > self.access.len() {
            return false;
        }
        counted_grants(&self.access, &self.referrals, agency)
            .into_iter()
            .any(|(grant, grantor)| {
                attachment_visible(
                    agency,
                    &row.declared_by,
                    &row.field,
                    Some(&grant.fields),
                    &self.values,
                ) && self.sees(&grantor, row, depth + 1)
            })
    }
}

fn audit_read(
    tx: &mut dyn StoreTx,
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

/// The attachment if the device may see it; a read of another agency's attachment is
/// audited.
fn readable(
    tx: &mut dyn StoreTx,
    device: &DeviceAuth,
    id: RecordId,
    index: Option<u32>,
    now_ms: u64,
) -> Result<Option<StoredAttachment>, StorageError> {
    let Some(row) = tx.attachment(id)? else {
        return Ok(None);
    };
    if row.declared_by == device.agency {
        return Ok(Some(row));
    }
    let view = CaseView::read(tx, row.case_id)?;
    if !view.sees(&device.agency, &row, 0) {
        return Ok(None);
    }
    audit_read(tx, device, id, index, now_ms)?;
    Ok(Some(row))
}

/// The description of an attachment the device may see, `None` otherwise.
pub fn attachment_info(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
    now_ms: u64,
) -> Result<Option<AttachmentInfo>, StorageError> {
    // A write transaction: a read by another agency is audited with it.
    crate::storage::write(storage, |tx| {
        Ok(readable(tx, device, id, None, now_ms)?.map(|row| info(&row)))
    })
}

/// One chunk of a complete attachment the device may see, `None` otherwise.
pub fn attachment_chunk(
    storage: &dyn Storage,
    device: &DeviceAuth,
    id: RecordId,
    index: u32,
    now_ms: u64,
) -> Result<Option<Vec<u8>>, StorageError> {
    crate::storage::write(storage, |tx| {
        let Some(row) = tx.attachment(id)? else {
            return Ok(None);
        };
        if !row.complete || index >= row.chunk_count {
            return Ok(None);
        }
        match readable(tx, device, id, Some(index), now_ms)? {
            Some(row) => Ok(Some(tx.chunk(&row, index)?.to_vec())),
            None => Ok(None),
        }
    })
}

/// The attachments of a case that the device may see, oldest first; `None` when the device's
/// agency neither owns the case nor has any access to it. Listing is not a read of content
/// and is not audited; reading the description or a chunk is.
pub fn case_attachments(
    storage: &dyn Storage,
    device: &DeviceAuth,
    case: RecordId,
) -> Result<Option<Vec<AttachmentInfo>>, StorageError> {
    crate::storage::read(storage, |tx| {
        let Some(owner) = case_owner(tx, case)? else {
            return Ok(None);
        };
        let rows = tx.case_attachment_list(case)?;
        let view = CaseView::read(tx, case)?;
        let has_access = owner == device.agency
            || rows.iter().any(|r| r.declared_by == device.agency)
            || !counted_grants(&view.access, &view.referrals, &device.agency).is_empty();
        if !has_access {
            return Ok(None);
        }
        Ok(Some(
            rows.iter()
                .filter(|row| view.sees(&device.agency, row, 0))
                .map(info)
                .collect(),
        ))
    })
}
