//! The attachment record in the operation log: how devices learn of an attachment (its
//! case, field, type, size, digest and label) on pull, so they list it offline and fetch the
//! bytes on demand.
//!
//! - When an upload completes, [`append_on_completion`] writes one server-authored operation
//!   of kind `attachment` ([`fieldcase_core::attachments::record`]) in the same transaction,
//!   addressed to every agency that may see the attachment then.
//! - When a referral is made, [`deliver_to`] copies the records of the case's attachments
//!   that the receiving agency may now see, addressed to it only (same clock stamp, so a
//!   copy merges to nothing where it arrived before).
//! - On pull, [`visible`] is asked about every row of such a record addressed to an agency
//!   other than the declaring one.
//!
//! What guarantees "no metadata without the attachment": every one of these decisions is
//! [`CaseView::sees`], the very rule that decides who may read the attachment's bytes
//! (`service/attachments.rs`), evaluated when the record is addressed *and* again when it is
//! pulled (a referral closed or consent withdrawn since stops it). Devices never write such a
//! record: `rules` refuses the kind, and its id is in the server's namespace.

use super::attachments::CaseView;
use super::push::merge_into_state;
use crate::storage::port::{Audience, FieldMap, StoreTx, StoredAttachment, StoredRecord};
use crate::storage::StorageError;
use fieldcase_core::attachments::record::{self, AttachmentRecord};
use fieldcase_core::{AgencyCode, FieldChange, Hlc, Operation, RecordId};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The record of a stored attachment.
fn record_of(row: &StoredAttachment) -> Result<AttachmentRecord, StorageError> {
    let content_type = fieldcase_core::attachments::ContentType::parse(&row.content_type)
        .ok_or_else(|| StorageError::Integrity("a stored attachment has no known type".into()))?;
    Ok(AttachmentRecord {
        attachment_id: row.id,
        case_id: row.case_id,
        field: row.field.clone(),
        content_type,
        size: row.size,
        chunk_size: row.chunk_size,
        sha256: row.sha256,
        label: row.label.clone(),
    })
}

/// The agencies other than the declaring one that may see `row` now.
fn other_viewers(
    tx: &mut dyn StoreTx,
    row: &StoredAttachment,
) -> Result<BTreeSet<AgencyCode>, StorageError> {
    let view = CaseView::read(tx, row.case_id)?;
    let candidates: BTreeSet<AgencyCode> = view.agencies_with_grants();
    Ok(candidates
        .into_iter()
        .filter(|agency| agency != &row.declared_by && view.sees(agency, row, 0))
        .collect())
}

/// Writes the record of attachment `row`, which just became complete, addressed to the
/// declaring agency and to every other agency that may see the attachment now. Writes
/// nothing when the record exists (a completion is reported once, but a retry must not
/// fail).
pub(super) fn append_on_completion(
    tx: &mut dyn StoreTx,
    row: &StoredAttachment,
    now_ms: u64,
) -> Result<(), StorageError> {
    let record_id = record::record_id(&row.id);
    if tx.record(record_id)?.is_some() {
        return Ok(());
    }
    let fields: FieldMap = record_of(row)?
        .to_fields()
        .into_iter()
        .map(|(key, value)| (key, FieldChange::fresh(value)))
        .collect();
    let op = Operation {
        op_id: tx.server_op_id()?,
        kind: record::KIND,
        record_id,
        hlc: tx.server_clock(now_ms)?,
        fields,
    };
    tx.insert_record(
        &op,
        &StoredRecord {
            kind: record::KIND,
            owner_agency: row.declared_by.clone(),
            case_id: Some(row.case_id),
        },
    )?;
    merge_into_state(tx, &op)?;
    let mut audiences: Vec<Audience> = vec![(row.declared_by.clone(), None)];
    audiences.extend(other_viewers(tx, row)?.into_iter().map(|a| (a, None)));
    tx.append(&op, &row.declared_by, &audiences)?;
    Ok(())
}

/// Copies the records of the case's attachments that `agency` may see now (after a referral
/// to it was granted) into the log, addressed to `agency` only.
pub(super) fn deliver_to(
    tx: &mut dyn StoreTx,
    case: RecordId,
    agency: &AgencyCode,
) -> Result<(), StorageError> {
    let rows = tx.case_attachment_list(case)?;
    if rows.is_empty() {
        return Ok(());
    }
    let view = CaseView::read(tx, case)?;
    for row in rows {
        if !row.complete || &row.declared_by == agency || !view.sees(agency, &row, 0) {
            continue;
        }
        let record_id = record::record_id(&row.id);
        let Some(state) = tx.record_state(record_id)? else {
            // Completed before attachment records existed: listed through the HTTP route only.
            continue;
        };
        let mut by_version: BTreeMap<Hlc, FieldMap> = BTreeMap::new();
        for (key, field) in &state.fields {
            by_version
                .entry(field.hlc)
                .or_default()
                .insert(key.clone(), FieldChange::fresh(field.value.clone()));
        }
        let audience: [Audience; 1] = [(agency.clone(), None)];
        for (hlc, fields) in by_version {
            let op = Operation {
                op_id: tx.server_op_id()?,
                kind: record::KIND,
                record_id,
                hlc,
                fields,
            };
            tx.append(&op, &row.declared_by, &audience)?;
        }
    }
    Ok(())
}

/// Whether a row of an attachment record (its opened `fields`) may reach `agency`, which is
/// not the declaring agency: only if the attachment it describes is one `agency` may see now.
/// A record that does not name a stored attachment reaches nobody.
pub(super) fn visible(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
    record_id: RecordId,
    fields: &FieldMap,
) -> Result<bool, StorageError> {
    let Some(Value::String(id)) = fields.get(record::ATTACHMENT_ID).map(|c| &c.value) else {
        return Ok(false);
    };
    let Ok(id) = id.parse::<RecordId>() else {
        return Ok(false);
    };
    if record::record_id(&id) != record_id {
        return Ok(false);
    }
    let Some(row) = tx.attachment(id)? else {
        return Ok(false);
    };
    let view = CaseView::read(tx, row.case_id)?;
    Ok(view.sees(agency, &row, 0))
}
