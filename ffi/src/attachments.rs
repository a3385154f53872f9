//! Attachments for the apps: photos and scans of documents and consent signatures on a case.
//!
//! - attach from a file path ([`FieldcaseStore::attach_file`], streamed a chunk at a time,
//!   never whole in memory) or from bytes ([`FieldcaseStore::attach_bytes`]);
//! - list a case's attachments with their sync state ([`FieldcaseStore::list_attachments`]),
//!   offline, including those made on other devices of the agency that are known from the
//!   log only (`RemoteOnly`, size shown before any download);
//! - read one with progress, to a file ([`FieldcaseStore::read_attachment_to_file`]) or, up
//!   to [`MAX_READ_BYTES`], to bytes ([`FieldcaseStore::read_attachment_bytes`]);
//! - fetch a remote-only one on demand ([`FieldcaseStore::fetch_attachment`]).
//!
//! Uploading is the sync's job (`sync.rs`): attachments go up after the operations.
//!
//! What it guarantees: a refused attachment writes nothing; a read to a file writes a
//! temporary file next to the target and renames it into place only once every chunk opened
//! and the whole SHA-256 matched, so a damaged attachment never leaves a file that looks
//! whole. What it does not do: decide anything — type checks, limits, sealing and the
//! listing are core's; the server decides who may fetch what.

use crate::error::{FieldcaseError, Result};
use crate::runtime::{blocking, spawn};
use crate::store::{lock, record_id, FieldcaseStore};
use fieldcase_core::attachments::DEFAULT_FIELD;
use fieldcase_core::store::AttachmentSyncState as CoreSyncState;
use fieldcase_core::store::{AttachmentEntry, NewAttachment, StoreError};
use fieldcase_core::sync::fetch_attachment_with_progress;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest attachment [`FieldcaseStore::read_attachment_bytes`] returns: 4 MiB. The bytes
/// cross the boundary as one array, so a read holds about twice the size at once (Rust's
/// buffer and the app's copy); 4 MiB covers a thumbnail, a signature or a one-page scan, and
/// keeps a low-end phone's app heap (often 128–256 MiB) safe. Larger ones are read to a file.
pub const MAX_READ_BYTES: u64 = 4 * 1024 * 1024;

/// Where an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentSyncState {
    /// Made on this device; nothing of it is on the server yet.
    LocalOnly,
    /// Made on this device; the server has `chunks_sent` of its `chunk_count` chunks.
    Uploading { chunks_sent: u32, chunk_count: u32 },
    /// On this device and whole on the server.
    Uploaded,
    /// Made on another device: known here, bytes not downloaded yet (`fetch_attachment`).
    RemoteOnly,
}

/// One attachment of a case.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AttachmentInfo {
    pub id: String,
    pub case_id: String,
    /// The case field it hangs on: `photo`, `document_numbers` or `consent.data_sharing`.
    /// It decides which partner agencies may see it (a referral must share that field).
    pub field: String,
    /// `image/jpeg`, `image/png`, `image/webp` or `application/pdf`.
    pub content_type: String,
    /// Bytes, known before a remote-only attachment is downloaded.
    pub size: u64,
    pub label: Option<String>,
    /// When it was added (or, for a remote-only one, when the server recorded it), epoch ms.
    pub created_at_ms: i64,
    pub sync_state: AttachmentSyncState,
}
redacted_debug!(AttachmentInfo);

/// What the app hears while an attachment is read or fetched. Called on a fieldcase thread:
/// post to the UI from here. An exception thrown here is ignored and does not stop the read.
#[uniffi::export(with_foreign)]
pub trait AttachmentObserver: Send + Sync {
    /// Bytes done so far of `total_bytes`: once at 0, then after each chunk (64 KiB).
    fn on_progress(&self, done_bytes: u64, total_bytes: u64) -> Result<(), FieldcaseError>;
}

impl From<AttachmentEntry> for AttachmentInfo {
    fn from(entry: AttachmentEntry) -> Self {
        AttachmentInfo {
            id: entry.id.to_string(),
            case_id: entry.case_id.to_string(),
            field: entry.field,
            content_type: entry.content_type.as_str().to_owned(),
            size: entry.size,
            label: entry.label,
            created_at_ms: entry.created_ms,
            sync_state: match entry.state {
                CoreSyncState::LocalOnly => AttachmentSyncState::LocalOnly,
                CoreSyncState::Uploading {
                    chunks_sent,
                    chunk_count,
                } => AttachmentSyncState::Uploading {
                    chunks_sent,
                    chunk_count,
                },
                CoreSyncState::Uploaded => AttachmentSyncState::Uploaded,
                CoreSyncState::RemoteOnly => AttachmentSyncState::RemoteOnly,
            },
        }
    }
}

/// A progress callback for core, calling the app's observer and ignoring what it throws.
fn reporter(observer: Option<Arc<dyn AttachmentObserver>>) -> impl Fn(u64, u64) + Send + Sync {
    move |done, total| {
        if let Some(observer) = &observer {
            let _ = observer.on_progress(done, total);
        }
    }
}

/// A temporary file next to `target`, renamed onto it by [`PartFile::keep`] and removed
/// when dropped otherwise.
struct PartFile {
    path: PathBuf,
    target: PathBuf,
    file: Option<std::fs::File>,
}

impl PartFile {
    fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .ok_or_else(|| FieldcaseError::invalid_field("path", "a file path"))?;
        let mut part_name = name.to_os_string();
        part_name.push(format!(".part-{}", fieldcase_core::RecordId::new()));
        let path = target.with_file_name(part_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::from)?;
        Ok(PartFile {
            path,
            target: target.to_owned(),
            file: Some(file),
        })
    }

    fn keep(mut self) -> Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Err(FieldcaseError::internal("a temporary file was kept twice"));
        };
        file.sync_all().map_err(StoreError::from)?;
        std::fs::rename(&self.path, &self.target).map_err(StoreError::from)?;
        // Renamed: nothing left for `drop` to remove.
        self.file = None;
        Ok(())
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn new_attachment<'a>(
    case_id: fieldcase_core::RecordId,
    content_type: &'a str,
    field: &'a Option<String>,
    label: &'a Option<String>,
) -> NewAttachment<'a> {
    NewAttachment {
        case_id,
        content_type,
        field: field.as_deref().unwrap_or(DEFAULT_FIELD),
        label: label.as_deref(),
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Attaches the file at `path` to a case this agency owns; returns the attachment id. The
    /// file is read a chunk at a time and sealed into the store; the next sync uploads it.
    /// `content_type` must match the file's first bytes (JPEG, PNG, WebP, PDF; at most
    /// 10 MiB); `field` defaults to `photo`. Anything refused writes nothing.
    pub fn attach_file(
        &self,
        case_id: String,
        path: String,
        content_type: String,
        field: Option<String>,
        label: Option<String>,
    ) -> Result<String> {
        let case_id = record_id("case_id", &case_id)?;
        let file = std::fs::File::open(&path).map_err(|e| FieldcaseError::unreadable_file(&e))?;
        let new = new_attachment(case_id, &content_type, &field, &label);
        let id = lock(&self.store).add_attachment_with(
            &new,
            std::io::BufReader::new(file),
            fieldcase_core::attachments::CHUNK_BYTES,
        )?;
        Ok(id.to_string())
    }

    /// [`attach_file`](Self::attach_file) from bytes the app holds (a camera frame).
    pub fn attach_bytes(
        &self,
        case_id: String,
        content: Vec<u8>,
        content_type: String,
        field: Option<String>,
        label: Option<String>,
    ) -> Result<String> {
        let case_id = record_id("case_id", &case_id)?;
        let new = new_attachment(case_id, &content_type, &field, &label);
        let id = lock(&self.store).add_attachment_with(
            &new,
            content.as_slice(),
            fieldcase_core::attachments::CHUNK_BYTES,
        )?;
        Ok(id.to_string())
    }

    /// The attachments of a case known on this device, oldest first, with their sync state.
    /// Works offline; remote-only ones show their size before any download.
    pub fn list_attachments(&self, case_id: String) -> Result<Vec<AttachmentInfo>> {
        let case_id = record_id("case_id", &case_id)?;
        let entries = lock(&self.store).list_attachments(&case_id)?;
        Ok(entries.into_iter().map(AttachmentInfo::from).collect())
    }

    /// Writes an attachment held on this device to the file at `path` (replaced if it
    /// exists), reporting progress; returns the bytes written. The file appears only once
    /// the whole content checked out (`Integrity` otherwise, and no file). A remote-only
    /// attachment is `NotFound`: fetch it first.
    pub async fn read_attachment_to_file(
        &self,
        attachment_id: String,
        path: String,
        observer: Option<Arc<dyn AttachmentObserver>>,
    ) -> Result<u64> {
        let id = record_id("attachment_id", &attachment_id)?;
        let store = Arc::clone(&self.store);
        blocking(move || {
            let mut part = PartFile::create(Path::new(&path))?;
            let progress = reporter(observer);
            let meta =
                lock(&store).read_attachment_to(&id, &mut part, &mut |d, t| progress(d, t))?;
            part.keep()?;
            Ok(meta.size)
        })
        .await
    }

    /// An attachment held on this device as bytes, reporting progress; at most
    /// [`MAX_READ_BYTES`] (a larger one is `Invalid` on `attachment_id`: read it to a file).
    pub async fn read_attachment_bytes(
        &self,
        attachment_id: String,
        observer: Option<Arc<dyn AttachmentObserver>>,
    ) -> Result<Vec<u8>> {
        let id = record_id("attachment_id", &attachment_id)?;
        let store = Arc::clone(&self.store);
        blocking(move || {
            let store = lock(&store);
            let size = store.attachment(&id)?.size;
            if size > MAX_READ_BYTES {
                return Err(FieldcaseError::invalid_field(
                    "attachment_id",
                    "an attachment of at most 4 MiB; read larger ones to a file",
                ));
            }
            let mut content = Vec::with_capacity(size as usize);
            let progress = reporter(observer);
            store.read_attachment_to(&id, &mut content, &mut |d, t| progress(d, t))?;
            Ok(content)
        })
        .await
    }

    /// Downloads a remote-only attachment this agency may see and keeps it sealed on this
    /// device, reporting progress; returns it as now listed. One already here is not
    /// downloaded again. `NotFound` when the server does not let this device see it (or it
    /// does not exist: the same answer), `Network`/`Server` when worth retrying.
    pub async fn fetch_attachment(
        self: Arc<Self>,
        attachment_id: String,
        observer: Option<Arc<dyn AttachmentObserver>>,
    ) -> Result<AttachmentInfo> {
        let id = record_id("attachment_id", &attachment_id)?;
        let client = self.sync_client()?;
        let store = Arc::clone(&self.store);
        spawn(async move {
            let progress = reporter(observer);
            let meta = fetch_attachment_with_progress(&store, &client, &id, &progress).await?;
            let listed = lock(&store)
                .list_attachments(&meta.case_id)?
                .into_iter()
                .find(|entry| entry.id == id)
                .ok_or_else(|| FieldcaseError::internal("a fetched attachment is not listed"))?;
            Ok(AttachmentInfo::from(listed))
        })
        .await?
    }
}
