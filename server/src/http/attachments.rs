//! The attachment routes: declare, resume, upload and download in chunks
//! (`fieldcase_core::attachments::wire`, `docs/protocol.md` "Attachments").
//!
//! Device credential on every route. Checks run cheapest first: credential, path, content
//! type, declared length (413 before a byte of a chunk is read, at [`MAX_CHUNK_BYTES`]), then
//! the chunk's SHA-256 against its header, and only then the database. An attachment the
//! device may not see, one that does not exist and a malformed id all get the same `404`.

use super::auth::AuthedDevice;
use super::body::{read_body, require_content_type, JsonBody};
use super::{blocking, AppState};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldcase_core::attachments::wire::{
    AttachmentInfo, AttachmentList, ChunkReceipt, Declaration, UploadState, CHUNK_CONTENT_TYPE,
    CHUNK_SHA256_HEADER,
};
use fieldcase_core::attachments::{
    check_chunk_size, check_field, check_label, ContentType, Sha256Digest, MAX_ATTACHMENT_BYTES,
    MAX_CHUNK_BYTES,
};
use fieldcase_core::RecordId;

fn attachment_id(text: &str) -> Result<RecordId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("attachment"))
}

fn chunk_index(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("chunk"))
}

/// The rules of a declaration that need no database.
fn check_declaration(declaration: &Declaration) -> Result<(), ApiError> {
    let refuse =
        |e: fieldcase_core::attachments::AttachmentError| ApiError::bad_request(e.to_string());
    if ContentType::parse(&declaration.content_type).is_none() {
        return Err(ApiError::bad_request(
            "content_type must be image/jpeg, image/png, image/webp or application/pdf",
        ));
    }
    if declaration.size == 0 || declaration.size > MAX_ATTACHMENT_BYTES {
        return Err(ApiError::bad_request(format!(
            "size must be between 1 and {MAX_ATTACHMENT_BYTES} bytes"
        )));
    }
    check_chunk_size(declaration.chunk_size).map_err(refuse)?;
    check_field(&declaration.field).map_err(refuse)?;
    if let Some(label) = &declaration.label {
        check_label(label).map_err(refuse)?;
    }
    Ok(())
}

/// `PUT /v1/attachments/{attachment_id}`
pub async fn declare(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path(id): Path<String>,
    JsonBody(declaration): JsonBody<Declaration>,
) -> Result<Json<UploadState>, ApiError> {
    let id = attachment_id(&id)?;
    check_declaration(&declaration)?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let upload = blocking(move || {
        crate::service::attachments::declare(&*storage, &device, id, &declaration, now)
    })
    .await?;
    Ok(Json(upload))
}

/// `GET /v1/attachments/{attachment_id}/upload`
pub async fn upload_state(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path(id): Path<String>,
) -> Result<Json<UploadState>, ApiError> {
    let id = attachment_id(&id)?;
    let storage = state.storage.clone();
    blocking(move || crate::service::attachments::upload_state(&*storage, &device, id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("attachment"))
}

/// `PUT /v1/attachments/{attachment_id}/chunks/{index}`
pub async fn put_chunk(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path((id, index)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ChunkReceipt>, ApiError> {
    let id = attachment_id(&id)?;
    let index = chunk_index(&index)?;
    require_content_type(&headers, CHUNK_CONTENT_TYPE)?;
    let declared = headers
        .get(CHUNK_SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Sha256Digest::parse_hex)
        .ok_or_else(|| {
            ApiError::bad_request(
                "send the chunk's SHA-256 as 64 hex characters in x-fieldcase-chunk-sha256",
            )
        })?;
    let bytes = read_body(&headers, body, MAX_CHUNK_BYTES as usize).await?;
    if Sha256Digest::of(&bytes) != declared {
        return Err(ApiError::bad_request(
            "the chunk does not match its SHA-256 (damaged on the way?); send it again",
        ));
    }
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let receipt = blocking(move || {
        crate::service::attachments::put_chunk(&*storage, &device, id, index, &bytes, now)
    })
    .await?;
    Ok(Json(receipt))
}

/// `GET /v1/attachments/{attachment_id}`
pub async fn info(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path(id): Path<String>,
) -> Result<Json<AttachmentInfo>, ApiError> {
    let id = attachment_id(&id)?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    blocking(move || crate::service::attachments::attachment_info(&*storage, &device, id, now))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("attachment"))
}

/// `GET /v1/attachments/{attachment_id}/chunks/{index}`
pub async fn get_chunk(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path((id, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = attachment_id(&id)?;
    let index = chunk_index(&index)?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let bytes = blocking(move || {
        crate::service::attachments::attachment_chunk(&*storage, &device, id, index, now)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("chunk"))?;
    let digest = Sha256Digest::of(&bytes).to_hex();
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CHUNK_CONTENT_TYPE),
    );
    headers.insert(
        CHUNK_SHA256_HEADER,
        HeaderValue::from_str(&digest).expect("hex is a valid header value"),
    );
    Ok(response)
}

/// `GET /v1/cases/{case_id}/attachments`
pub async fn of_case(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    Path(case_id): Path<String>,
) -> Result<Json<AttachmentList>, ApiError> {
    let case_id: RecordId = case_id.parse().map_err(|_| ApiError::not_found("case"))?;
    let storage = state.storage.clone();
    blocking(move || crate::service::attachments::case_attachments(&*storage, &device, case_id))
        .await?
        .map(|attachments| Json(AttachmentList { attachments }))
        .ok_or_else(|| ApiError::not_found("case"))
}
