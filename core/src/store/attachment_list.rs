//! What an app shows of a case's attachments, and reading one out with progress.
//!
//! A case's attachments, as this device knows them, come from two places: the sealed
//! attachments it holds (made here, or fetched), and the attachment records the server wrote
//! into the log ([`crate::attachments::record`]) for attachments made on other devices that
//! this agency may see. The list joins the two, one entry per attachment, each with its sync
//! state: made here and not yet on the server, partly uploaded (chunks the server confirmed
//! of all), on the server, or known only from its record (the bytes are fetched on demand;
//! the size is shown before).
//!
//! Reading streams the content a chunk at a time into any writer, reporting progress, and
//! checks the whole file's SHA-256 at the end: a caller writing to a file writes to a
//! temporary one and keeps it only on success (the facade does), so a damaged attachment
//! never becomes a file that looks whole. Nothing here touches the network.

use super::attachments::AttachmentMeta;
use super::error::{Result, StoreError};
use super::Store;
use crate::attachments::record::{self, AttachmentRecord};
use crate::attachments::{AttachmentError, ContentType, Sha256Digest};
use crate::ids::RecordId;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Where an attachment is, for the app's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachmentSyncState {
    /// Made on this device; no chunk has reached the server yet.
    LocalOnly,
    /// Made on this device; the server has confirmed `chunks_sent` of `chunk_count` chunks.
    Uploading { chunks_sent: u32, chunk_count: u32 },
    /// On this device and whole on the server.
    Uploaded,
    /// Known from the log only: fetch the bytes before reading them.
    RemoteOnly,
}

/// One attachment of a case as the app lists it.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentEntry {
    pub id: RecordId,
    pub case_id: RecordId,
    pub field: String,
    pub content_type: ContentType,
    pub size: u64,
    pub label: Option<String>,
    pub created_ms: i64,
    pub state: AttachmentSyncState,
}

impl std::fmt::Debug for AttachmentEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The label may name the person; it is never shown.
        f.debug_struct("AttachmentEntry")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("size", &self.size)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl From<&AttachmentMeta> for AttachmentEntry {
    fn from(meta: &AttachmentMeta) -> Self {
        let state = if meta.uploaded {
            AttachmentSyncState::Uploaded
        } else if meta.chunks_on_server > 0 {
            AttachmentSyncState::Uploading {
                chunks_sent: meta.chunks_on_server,
                chunk_count: meta.chunk_count,
            }
        } else {
            AttachmentSyncState::LocalOnly
        };
        AttachmentEntry {
            id: meta.id,
            case_id: meta.case_id,
            field: meta.field.clone(),
            content_type: meta.content_type,
            size: meta.size,
            label: meta.label.clone(),
            created_ms: meta.created_ms,
            state,
        }
    }
}

impl Store {
    /// The attachments of a case this device knows of, oldest first: those it holds and
    /// those it knows only from the log (see the module docs). Works offline.
    pub fn list_attachments(&self, case_id: &RecordId) -> Result<Vec<AttachmentEntry>> {
        let held = self.attachments_of_case(case_id)?;
        let mut entries: Vec<AttachmentEntry> = held.iter().map(AttachmentEntry::from).collect();
        for (created_ms, remote) in self.attachment_records_of_case(case_id)? {
            if held.iter().any(|m| m.id == remote.attachment_id) {
                continue;
            }
            entries.push(AttachmentEntry {
                id: remote.attachment_id,
                case_id: remote.case_id,
                field: remote.field,
                content_type: remote.content_type,
                size: remote.size,
                label: remote.label,
                created_ms,
                state: AttachmentSyncState::RemoteOnly,
            });
        }
        entries.sort_by_key(|e| (e.created_ms, e.id));
        Ok(entries)
    }

    /// What the log says of one attachment (`None` when no record of it came), whether or
    /// not its bytes are here.
    pub fn attachment_record(&self, id: &RecordId) -> Result<Option<AttachmentRecord>> {
        let keys = self.keys()?;
        let Some(stored) = Self::load_record(&self.conn, keys, &record::record_id(id))? else {
            return Ok(None);
        };
        Ok(AttachmentRecord::from_fields(&stored.state.values())
            .filter(|r| stored.state.kind == record::KIND && &r.attachment_id == id))
    }

    /// The attachment records of a case, with when each was written.
    fn attachment_records_of_case(
        &self,
        case_id: &RecordId,
    ) -> Result<Vec<(i64, AttachmentRecord)>> {
        let records = self.load_selected(
            "SELECT id FROM records WHERE case_id = ?1 AND kind = ?2 ORDER BY created_ms, id",
            rusqlite::params![&case_id.as_bytes()[..], record::KIND.as_str()],
        )?;
        Ok(records
            .into_iter()
            .filter_map(|stored| {
                let remote = AttachmentRecord::from_fields(&stored.state.values())?;
                // A record filed under another case, or under an id not its own, is not
                // this case's attachment.
                (remote.case_id == *case_id
                    && record::record_id(&remote.attachment_id) == stored.id)
                    .then_some((stored.created_ms, remote))
            })
            .collect())
    }

    /// Writes a held attachment's content to `out` a chunk at a time, calling `progress`
    /// with the bytes written so far and the total after each chunk; returns the
    /// attachment's description. Every chunk is opened against its seal and the whole
    /// content checked against its SHA-256 at the end: on `Integrity` or a checksum error
    /// what was written must be thrown away. `NoSuchAttachment` when the bytes are not here
    /// (a remote-only attachment is fetched first).
    pub fn read_attachment_to(
        &self,
        id: &RecordId,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<AttachmentMeta> {
        let meta = self.attachment(id)?;
        let stored: i64 = self.conn.query_row(
            "SELECT count(*) FROM attachment_chunks WHERE attachment_id = ?1",
            [&id.as_bytes()[..]],
            |r| r.get(0),
        )?;
        if stored != i64::from(meta.chunk_count) {
            return Err(StoreError::Integrity {
                table: "attachments",
                record: id.to_string(),
            });
        }
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        progress(0, meta.size);
        for index in 0..meta.chunk_count {
            let chunk = self.read_attachment_chunk(&meta, index)?;
            hasher.update(&chunk[..]);
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
            progress(written, meta.size);
        }
        if Sha256Digest(hasher.finalize().into()) != meta.sha256 {
            return Err(AttachmentError::Checksum.into());
        }
        Ok(meta)
    }
}
