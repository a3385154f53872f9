//! Attachments in the store: sealed in fixed-size chunks, never in the clear on disk.
//!
//! An attachment is one row in `attachments` (clear: id, case, sizes, upload state; sealed:
//! content type, field, label and the SHA-256 of the content) and one row per chunk in
//! `attachment_chunks`. Each chunk is sealed on its own, with associated data binding it to the
//! attachment id, its index and whether it is the last ([`chunk_part`]), and the metadata seal
//! binds the chunk count and total size, so a chunk swapped between attachments, moved to
//! another index, or an attachment cut short or lengthened, fails to open; reading back also
//! checks the SHA-256 of the whole content.
//!
//! Adding streams the content through memory a chunk at a time (at most two plaintext chunk
//! buffers, zeroized when dropped) into one transaction: a refused attachment (too large, wrong type)
//! rolls back and leaves the store as it was, and nothing is ever written unsealed — SQLite
//! keeps its temporary data in memory (`temp_store=MEMORY`) and zeroes freed pages
//! (`secure_delete`). Wiping the store removes attachments with everything else (same file).
//!
//! Attachments are append-only: there is no edit and no delete.

use super::error::{Result, StoreError};
use super::Store;
use crate::attachments::wire::AttachmentInfo;
use crate::attachments::{
    self, check_chunk_size, check_field, check_label, check_type, chunk_count, chunk_len,
    AttachmentError, ContentType, Sha256Digest, CHUNK_BYTES, MAX_ATTACHMENT_BYTES, SNIFF_BYTES,
};
use crate::crypto::{Aad, StoreKeys};
use crate::ids::RecordId;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use zeroize::Zeroizing;

/// An attachment as the app lists it.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub id: RecordId,
    pub case_id: RecordId,
    pub field: String,
    pub content_type: ContentType,
    pub size: u64,
    pub chunk_size: u32,
    pub chunk_count: u32,
    pub sha256: Sha256Digest,
    pub label: Option<String>,
    pub created_ms: i64,
    /// The server holds the whole attachment (or it came from the server).
    pub uploaded: bool,
    /// Chunks the server has confirmed so far (all of them once `uploaded`).
    pub chunks_on_server: u32,
}

impl std::fmt::Debug for AttachmentMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The label may name the person; it is never shown.
        f.debug_struct("AttachmentMeta")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("uploaded", &self.uploaded)
            .finish_non_exhaustive()
    }
}

/// What a new attachment is, apart from its content.
#[derive(Clone, Debug)]
pub struct NewAttachment<'a> {
    pub case_id: RecordId,
    /// The declared MIME type; must match the content's magic bytes.
    pub content_type: &'a str,
    /// The case field it hangs on ([`attachments::DEFAULT_FIELD`] when in doubt).
    pub field: &'a str,
    pub label: Option<&'a str>,
}

/// The sealed part of an attachment row.
#[derive(Serialize, Deserialize)]
struct SealedMeta {
    content_type: String,
    field: String,
    label: Option<String>,
    sha256: Sha256Digest,
}

/// Associated data of the sealed metadata: it also binds the clear sizes, so a row whose size
/// or chunking was edited fails to open.
fn meta_part(size: u64, chunk_size: u32, count: u32) -> String {
    format!("meta/{size}/{chunk_size}/{count}")
}

/// Associated data part of chunk `index`: its position, whether it is the last chunk, and the
/// chunk size. With the attachment id as the record this is the STREAM construction (Hoang,
/// Reyhanitabar, Rogaway, Vizár 2015): a chunk moved to another attachment or index fails to
/// open, and so does a content cut at a chunk boundary (its new last chunk is not marked last)
/// or extended past its last chunk. The chunk count and total size are bound by the sealed
/// metadata row ([`meta_part`]).
fn chunk_part(index: u32, last: bool, chunk_size: u32) -> String {
    let position = if last { "last" } else { "more" };
    format!("chunk/{index}/{position}/{chunk_size}")
}

fn integrity(id: &RecordId) -> StoreError {
    StoreError::Integrity {
        table: "attachments",
        record: id.to_string(),
    }
}

impl From<AttachmentError> for StoreError {
    fn from(error: AttachmentError) -> Self {
        StoreError::Attachment(error)
    }
}

impl Store {
    /// Adds a photo (field `photo`) to a case this agency owns; returns the attachment id.
    pub fn add_attachment(
        &mut self,
        case_id: &RecordId,
        content_type: &str,
        content: impl Read,
        label: Option<&str>,
    ) -> Result<RecordId> {
        let new = NewAttachment {
            case_id: *case_id,
            content_type,
            field: attachments::DEFAULT_FIELD,
            label,
        };
        self.add_attachment_with(&new, content, CHUNK_BYTES)
    }

    /// Adds an attachment, reading `content` one chunk at a time. Refused with a typed error
    /// and nothing written when the case is not this agency's, the content is empty, over
    /// [`MAX_ATTACHMENT_BYTES`] or not of the declared type, or the field or label is bad.
    pub fn add_attachment_with(
        &mut self,
        new: &NewAttachment<'_>,
        mut content: impl Read,
        chunk_size: u32,
    ) -> Result<RecordId> {
        check_chunk_size(chunk_size)?;
        check_field(new.field)?;
        if let Some(label) = new.label {
            check_label(label)?;
        }
        self.require_owned_case(&new.case_id)?;
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let id = RecordId::new();
        let tx = self.conn.transaction()?;
        let mut hasher = Sha256::new();
        // One chunk of look-ahead: a chunk is sealed once we know whether it is the last, so
        // at most two plaintext chunks are in memory, both zeroized when dropped.
        let mut current = Zeroizing::new(vec![0u8; chunk_size as usize]);
        let mut next = Zeroizing::new(vec![0u8; chunk_size as usize]);
        let mut current_len = fill(&mut content, &mut current)?;
        if current_len == 0 {
            return Err(AttachmentError::Empty.into());
        }
        let content_type = check_type(new.content_type, &current[..current_len.min(SNIFF_BYTES)])?;
        let mut size: u64 = 0;
        let mut index: u32 = 0;
        loop {
            size += current_len as u64;
            if size > MAX_ATTACHMENT_BYTES {
                // Dropping the transaction rolls back every chunk written so far.
                return Err(AttachmentError::TooLarge {
                    limit: MAX_ATTACHMENT_BYTES,
                }
                .into());
            }
            hasher.update(&current[..current_len]);
            let next_len = if current_len < current.len() {
                0
            } else {
                fill(&mut content, &mut next)?
            };
            let last = next_len == 0;
            write_chunk(
                &tx,
                keys,
                &id,
                index,
                last,
                chunk_size,
                &current[..current_len],
            )?;
            if last {
                break;
            }
            std::mem::swap(&mut current, &mut next);
            current_len = next_len;
            index += 1;
        }
        let count = index + 1;
        debug_assert_eq!(count, chunk_count(size, chunk_size));
        let meta = SealedMeta {
            content_type: content_type.as_str().to_owned(),
            field: new.field.to_owned(),
            label: new.label.map(str::to_owned),
            sha256: Sha256Digest(hasher.finalize().into()),
        };
        insert_row(
            &tx,
            keys,
            &id,
            &new.case_id,
            size,
            chunk_size,
            count,
            false,
            &meta,
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Stores an attachment downloaded from the server, after checking its chunks against
    /// its declared size and SHA-256. Already present: nothing to do.
    pub fn save_received_attachment(
        &mut self,
        info: &AttachmentInfo,
        content: &[u8],
    ) -> Result<()> {
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let tx = self.conn.transaction()?;
        Self::save_received_attachment_in(&tx, keys, info, content)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::save_received_attachment`] inside the caller's transaction (a handoff bundle
    /// imports its attachments with its records, all or nothing).
    pub(crate) fn save_received_attachment_in(
        tx: &Connection,
        keys: &StoreKeys,
        info: &AttachmentInfo,
        content: &[u8],
    ) -> Result<()> {
        check_chunk_size(info.chunk_size)?;
        check_field(&info.field)?;
        let content_type = ContentType::parse(&info.content_type).ok_or_else(|| {
            AttachmentError::UnsupportedType {
                declared: attachments::shown_type(&info.content_type),
            }
        })?;
        if content.len() as u64 != info.size
            || info.size > MAX_ATTACHMENT_BYTES
            || Sha256Digest::of(content) != info.sha256
        {
            return Err(AttachmentError::Checksum.into());
        }
        let exists: bool = tx.query_row(
            "SELECT count(*) > 0 FROM attachments WHERE id = ?1",
            [&info.id.as_bytes()[..]],
            |r| r.get(0),
        )?;
        if exists {
            return Ok(());
        }
        let count = chunk_count(info.size, info.chunk_size);
        for (index, chunk) in content.chunks(info.chunk_size as usize).enumerate() {
            let index = index as u32;
            let last = index + 1 == count;
            write_chunk(tx, keys, &info.id, index, last, info.chunk_size, chunk)?;
        }
        let meta = SealedMeta {
            content_type: content_type.as_str().to_owned(),
            field: info.field.clone(),
            label: info.label.clone(),
            sha256: info.sha256,
        };
        insert_row(
            tx,
            keys,
            &info.id,
            &info.case_id,
            info.size,
            info.chunk_size,
            count,
            true,
            &meta,
        )
    }

    /// One attachment's metadata (`NoSuchAttachment` when unknown here).
    pub fn attachment(&self, id: &RecordId) -> Result<AttachmentMeta> {
        self.select_attachments("WHERE id = ?1", [&id.as_bytes()[..]])?
            .pop()
            .ok_or(StoreError::NoSuchAttachment { id: *id })
    }

    /// The attachments of a case, oldest first.
    pub fn attachments_of_case(&self, case_id: &RecordId) -> Result<Vec<AttachmentMeta>> {
        self.select_attachments(
            "WHERE case_id = ?1 ORDER BY created_ms, id",
            [&case_id.as_bytes()[..]],
        )
    }

    /// Attachments the server does not hold yet, oldest first.
    pub fn pending_attachments(&self) -> Result<Vec<AttachmentMeta>> {
        self.select_attachments("WHERE uploaded = 0 ORDER BY created_ms, id", [])
    }

    /// How many attachments wait to be uploaded, and their bytes: counted without a key,
    /// for [`Store::status`].
    pub fn pending_attachment_work(&self) -> Result<(u64, u64)> {
        self.ensure_not_wiped()?;
        let (count, bytes): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM attachments WHERE uploaded = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((count as u64, bytes as u64))
    }

    /// Notes that the server holds the whole attachment.
    pub fn mark_attachment_uploaded(&mut self, id: &RecordId) -> Result<()> {
        self.ensure_not_wiped()?;
        self.conn.execute(
            "UPDATE attachments SET uploaded = 1, chunks_on_server = chunk_count WHERE id = ?1",
            [&id.as_bytes()[..]],
        )?;
        Ok(())
    }

    /// Notes how many chunks of an attachment the server has confirmed (for "uploading n of
    /// m"); the upload itself resumes from the server's answer, not from this count.
    pub fn note_chunks_on_server(&mut self, id: &RecordId, chunks: u32) -> Result<()> {
        self.ensure_not_wiped()?;
        self.conn.execute(
            "UPDATE attachments SET chunks_on_server = min(?2, chunk_count)
             WHERE id = ?1 AND uploaded = 0",
            params![&id.as_bytes()[..], chunks],
        )?;
        Ok(())
    }

    /// One chunk's plaintext, checked against its seal (not against the whole SHA-256; see
    /// [`Store::read_attachment`]).
    pub fn read_attachment_chunk(
        &self,
        meta: &AttachmentMeta,
        index: u32,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let keys = self.keys()?;
        let sealed: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT data FROM attachment_chunks WHERE attachment_id = ?1 AND idx = ?2",
            )?
            .query_row(params![&meta.id.as_bytes()[..], index], |r| r.get(0))
            .optional()?;
        let sealed = sealed.ok_or_else(|| integrity(&meta.id))?;
        let last = index + 1 == meta.chunk_count;
        let part = chunk_part(index, last, meta.chunk_size);
        let plain = keys
            .seal
            .open(
                Aad {
                    table: "attachment_chunks",
                    record: meta.id.as_bytes(),
                    part: &part,
                },
                &sealed,
            )
            .map_err(|_| integrity(&meta.id))?;
        if plain.len() as u64 != chunk_len(meta.size, meta.chunk_size, index) {
            return Err(integrity(&meta.id));
        }
        Ok(Zeroizing::new(plain))
    }

    /// The whole content, every chunk opened and the SHA-256 checked. A missing, moved,
    /// altered or extra chunk is an `Integrity` error.
    pub fn read_attachment(&self, id: &RecordId) -> Result<Zeroizing<Vec<u8>>> {
        let meta = self.attachment(id)?;
        let stored: i64 = self.conn.query_row(
            "SELECT count(*) FROM attachment_chunks WHERE attachment_id = ?1",
            [&id.as_bytes()[..]],
            |r| r.get(0),
        )?;
        if stored != i64::from(meta.chunk_count) {
            return Err(integrity(id));
        }
        let mut content = Zeroizing::new(Vec::with_capacity(meta.size as usize));
        for index in 0..meta.chunk_count {
            content.extend_from_slice(&self.read_attachment_chunk(&meta, index)?);
        }
        if Sha256Digest::of(&content) != meta.sha256 {
            return Err(AttachmentError::Checksum.into());
        }
        Ok(content)
    }

    fn select_attachments(
        &self,
        clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AttachmentMeta>> {
        let keys = self.keys()?;
        let sql = format!(
            "SELECT id, case_id, created_ms, size, chunk_size, chunk_count, uploaded, meta,
                    chunks_on_server
             FROM attachments {clause}"
        );
        type Row = (Vec<u8>, Vec<u8>, i64, i64, i64, i64, bool, Vec<u8>, i64);
        let rows: Vec<Row> = self
            .conn
            .prepare_cached(&sql)?
            .query_map(params, |r| {
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
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(
                |(
                    id,
                    case_id,
                    created_ms,
                    size,
                    chunk_size,
                    count,
                    uploaded,
                    sealed,
                    on_server,
                )| {
                    let id = super::referrals::id_from_blob(id)?;
                    let case_id = super::referrals::id_from_blob(case_id)?;
                    let (size, chunk_size, count) = (size as u64, chunk_size as u32, count as u32);
                    let part = meta_part(size, chunk_size, count);
                    let plain = Zeroizing::new(
                        keys.seal
                            .open(meta_aad(&id, &part), &sealed)
                            .map_err(|_| integrity(&id))?,
                    );
                    let meta: SealedMeta =
                        serde_json::from_slice(&plain).map_err(|_| integrity(&id))?;
                    Ok(AttachmentMeta {
                        id,
                        case_id,
                        field: meta.field,
                        content_type: ContentType::parse(&meta.content_type)
                            .ok_or_else(|| integrity(&id))?,
                        size,
                        chunk_size,
                        chunk_count: count,
                        sha256: meta.sha256,
                        label: meta.label,
                        created_ms,
                        uploaded,
                        chunks_on_server: if uploaded {
                            count
                        } else {
                            u32::try_from(on_server).unwrap_or(0).min(count)
                        },
                    })
                },
            )
            .collect()
    }
}

fn meta_aad<'a>(id: &'a RecordId, part: &'a str) -> Aad<'a> {
    Aad {
        table: "attachments",
        record: id.as_bytes(),
        part,
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn fill(content: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match content.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

fn write_chunk(
    conn: &Connection,
    keys: &StoreKeys,
    id: &RecordId,
    index: u32,
    last: bool,
    chunk_size: u32,
    plain: &[u8],
) -> Result<()> {
    let part = chunk_part(index, last, chunk_size);
    let sealed = keys.seal.seal(
        Aad {
            table: "attachment_chunks",
            record: id.as_bytes(),
            part: &part,
        },
        plain,
    );
    conn.prepare_cached(
        "INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![&id.as_bytes()[..], index, sealed])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_row(
    conn: &Connection,
    keys: &StoreKeys,
    id: &RecordId,
    case_id: &RecordId,
    size: u64,
    chunk_size: u32,
    count: u32,
    uploaded: bool,
    meta: &SealedMeta,
) -> Result<()> {
    let plain = Zeroizing::new(serde_json::to_vec(meta).expect("attachment metadata serializes"));
    let part = meta_part(size, chunk_size, count);
    let sealed = keys.seal.seal(meta_aad(id, &part), &plain);
    conn.execute(
        "INSERT INTO attachments (id, case_id, created_ms, size, chunk_size, chunk_count, uploaded, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &id.as_bytes()[..],
            &case_id.as_bytes()[..],
            crate::hlc::now_ms() as i64,
            size as i64,
            chunk_size,
            count,
            uploaded,
            sealed
        ],
    )?;
    Ok(())
}
