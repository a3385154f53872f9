//! Moving attachments over the resumable chunk protocol ([`crate::attachments::wire`]).
//!
//! Upload, per pending attachment, oldest first: declare it (idempotent), ask which chunks
//! the server is missing, send those one `PUT` at a time, and mark the attachment uploaded
//! once the server says the whole file arrived and matched its SHA-256. A dropped connection
//! fails the run with a transient error; the retry starts again from the server's answer, so
//! at most the chunk in flight is sent twice. The store is locked only to read one chunk at a
//! time, never across a network call.
//!
//! Download ([`fetch_attachment`]) reads the description, then every chunk, and stores the
//! attachment sealed once its size and SHA-256 check out; nothing is written before that.

use super::client::{error_from_response, lock, network_error, SyncClient, SyncError, SyncOutcome};
use crate::attachments::wire::{
    AttachmentInfo, AttachmentList, ChunkReceipt, Declaration, UploadState, CHUNK_CONTENT_TYPE,
    CHUNK_SHA256_HEADER,
};
use crate::attachments::{chunk_count, chunk_len, Sha256Digest, MAX_ATTACHMENT_BYTES};
use crate::ids::RecordId;
use crate::store::{AttachmentMeta, Store, SyncProgress};
use serde::de::DeserializeOwned;
use std::sync::Mutex;

impl SyncClient {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.parts().1)
    }

    async fn json_reply<T: DeserializeOwned>(
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, SyncError> {
        let response = response.map_err(network_error)?;
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        response
            .json()
            .await
            .map_err(|e| SyncError::BadReply(e.without_url().to_string()))
    }

    async fn declare(
        &self,
        id: &RecordId,
        declaration: &Declaration,
    ) -> Result<UploadState, SyncError> {
        let (http, _, credential) = self.parts();
        let response = http
            .put(self.url(&format!("/v1/attachments/{id}")))
            .bearer_auth(&credential)
            .json(declaration)
            .send()
            .await;
        Self::json_reply(response).await
    }

    async fn put_chunk(
        &self,
        id: &RecordId,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<ChunkReceipt, SyncError> {
        let (http, _, credential) = self.parts();
        let digest = Sha256Digest::of(&bytes).to_hex();
        let response = http
            .put(self.url(&format!("/v1/attachments/{id}/chunks/{index}")))
            .bearer_auth(&credential)
            .header(reqwest::header::CONTENT_TYPE, CHUNK_CONTENT_TYPE)
            .header(CHUNK_SHA256_HEADER, digest)
            .body(bytes)
            .send()
            .await;
        Self::json_reply(response).await
    }

    /// The description of an attachment this device may see.
    pub async fn attachment_info(&self, id: &RecordId) -> Result<AttachmentInfo, SyncError> {
        let (http, _, credential) = self.parts();
        let response = http
            .get(self.url(&format!("/v1/attachments/{id}")))
            .bearer_auth(&credential)
            .send()
            .await;
        Self::json_reply(response).await
    }

    /// The attachments of a case this device may see, as the server holds them.
    pub async fn case_attachments(
        &self,
        case_id: &RecordId,
    ) -> Result<Vec<AttachmentInfo>, SyncError> {
        let (http, _, credential) = self.parts();
        let response = http
            .get(self.url(&format!("/v1/cases/{case_id}/attachments")))
            .bearer_auth(&credential)
            .send()
            .await;
        Self::json_reply::<AttachmentList>(response)
            .await
            .map(|list| list.attachments)
    }

    async fn get_chunk(&self, id: &RecordId, index: u32) -> Result<Vec<u8>, SyncError> {
        let (http, _, credential) = self.parts();
        let response = http
            .get(self.url(&format!("/v1/attachments/{id}/chunks/{index}")))
            .bearer_auth(&credential)
            .send()
            .await
            .map_err(network_error)?;
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        let expected = response
            .headers()
            .get(CHUNK_SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Sha256Digest::parse_hex);
        let bytes = response.bytes().await.map_err(network_error)?;
        if expected != Some(Sha256Digest::of(&bytes)) {
            // A proxy cut the body short, or altered it: worth trying again.
            return Err(SyncError::BadReply(format!(
                "chunk {index} does not match its SHA-256"
            )));
        }
        Ok(bytes.to_vec())
    }
}

fn declaration(meta: &AttachmentMeta) -> Declaration {
    Declaration {
        case_id: meta.case_id,
        field: meta.field.clone(),
        content_type: meta.content_type.as_str().to_owned(),
        size: meta.size,
        chunk_size: meta.chunk_size,
        sha256: meta.sha256,
        label: meta.label.clone(),
    }
}

/// A revoked device wipes itself, as after a sync request.
fn wipe_if_revoked<T>(store: &Mutex<Store>, result: Result<T, SyncError>) -> Result<T, SyncError> {
    if let Err(SyncError::Revoked) = &result {
        lock(store).wipe()?;
    }
    result
}

/// Uploads every pending attachment, resuming each from the chunks the server reports
/// missing. Called by a sync after its operations went through.
pub async fn upload_pending(
    store: &Mutex<Store>,
    client: &SyncClient,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
    outcome: &mut SyncOutcome,
) -> Result<(), SyncError> {
    let pending = lock(store).pending_attachments()?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut shown = SyncProgress {
        pushed: outcome.pushed,
        to_push: outcome.pushed,
        attachment_bytes_to_send: pending.iter().map(|m| m.size).sum(),
        ..Default::default()
    };
    progress(&shown);
    for meta in pending {
        let result = upload_one(store, client, &meta, &mut shown, progress, outcome).await;
        wipe_if_revoked(store, result)?;
    }
    Ok(())
}

async fn upload_one(
    store: &Mutex<Store>,
    client: &SyncClient,
    meta: &AttachmentMeta,
    shown: &mut SyncProgress,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
    outcome: &mut SyncOutcome,
) -> Result<(), SyncError> {
    // The declaration is idempotent and answers with the chunks the server is missing: the
    // resume point after a dropped connection.
    let state = client.declare(&meta.id, &declaration(meta)).await?;
    // What the server holds already (from an earlier, interrupted run) counts as sent.
    let missing_bytes: u64 = state
        .missing
        .iter()
        .map(|&i| chunk_len(meta.size, meta.chunk_size, i))
        .sum();
    let base_sent = shown.attachment_bytes_sent;
    shown.attachment_bytes_sent = base_sent + meta.size.saturating_sub(missing_bytes);
    progress(shown);
    let held_by_server = |missing: u32| meta.chunk_count.saturating_sub(missing);
    lock(store).note_chunks_on_server(&meta.id, held_by_server(state.missing.len() as u32))?;
    let mut complete = state.complete;
    for index in &state.missing {
        if *index >= meta.chunk_count {
            return Err(SyncError::BadReply(
                "the server asked for a chunk that does not exist".into(),
            ));
        }
        let bytes = lock(store).read_attachment_chunk(meta, *index)?.to_vec();
        let len = bytes.len() as u64;
        let receipt = client.put_chunk(&meta.id, *index, bytes).await?;
        outcome.attachment_bytes_sent += len;
        shown.attachment_bytes_sent += len;
        if !receipt.complete {
            lock(store).note_chunks_on_server(&meta.id, held_by_server(receipt.missing))?;
        }
        progress(shown);
        complete = receipt.complete;
    }
    if !complete {
        // Every missing chunk was sent and the server still is not complete: its whole-file
        // check failed and it dropped the chunks. Let the retry policy try again.
        return Err(SyncError::Stalled);
    }
    lock(store).mark_attachment_uploaded(&meta.id)?;
    outcome.attachments_uploaded += 1;
    shown.attachment_bytes_sent = base_sent + meta.size;
    progress(shown);
    Ok(())
}

/// Downloads an attachment this device may see and stores it sealed. Returns its
/// description as stored. An attachment already on the device is not downloaded again.
pub async fn fetch_attachment(
    store: &Mutex<Store>,
    client: &SyncClient,
    id: &RecordId,
) -> Result<AttachmentMeta, SyncError> {
    fetch_attachment_with_progress(store, client, id, &|_, _| {}).await
}

/// [`fetch_attachment`], calling `progress` with the bytes received so far and the total,
/// once the description is in and after each chunk.
pub async fn fetch_attachment_with_progress(
    store: &Mutex<Store>,
    client: &SyncClient,
    id: &RecordId,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<AttachmentMeta, SyncError> {
    if let Ok(meta) = lock(store).attachment(id) {
        progress(meta.size, meta.size);
        return Ok(meta);
    }
    let result = download(client, id, progress).await;
    let (info, content) = wipe_if_revoked(store, result)?;
    let mut guard = lock(store);
    guard.save_received_attachment(&info, &content)?;
    Ok(guard.attachment(id)?)
}

async fn download(
    client: &SyncClient,
    id: &RecordId,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<(AttachmentInfo, zeroize::Zeroizing<Vec<u8>>), SyncError> {
    let info = client.attachment_info(id).await?;
    if !info.complete {
        return Err(SyncError::Refused {
            code: crate::protocol::ErrorCode::Conflict,
            message: "the attachment is not wholly uploaded yet; try again later".into(),
        });
    }
    if info.size > MAX_ATTACHMENT_BYTES
        || info.chunk_count != chunk_count(info.size, info.chunk_size)
    {
        return Err(SyncError::BadReply(
            "the attachment's description is inconsistent".into(),
        ));
    }
    let mut content = zeroize::Zeroizing::new(Vec::with_capacity(info.size as usize));
    progress(0, info.size);
    for index in 0..info.chunk_count {
        let chunk = client.get_chunk(id, index).await?;
        if content.len() as u64 + chunk.len() as u64 > info.size {
            return Err(SyncError::BadReply(
                "the attachment's chunks are longer than its size".into(),
            ));
        }
        content.extend_from_slice(&chunk);
        progress(content.len() as u64, info.size);
    }
    Ok((info, content))
}
