//! `POST /v1/sync`: the device's one round trip (see `fieldcase_core::protocol`).
//!
//! Order of checks, cheapest first: credential (401/403 before a byte of body is read),
//! content type (415), declared length (413), then the body is read within
//! `MAX_COMPRESSED_BODY_BYTES`. Decompression and parsing (one bounded stream into typed
//! messages, see `fieldcase_core::codec`; a body over a bound is a 413 naming it) and the
//! database work run on a blocking thread; a semaphore bounds how many run at once
//! (taken once the body is in, so a slow upload holds no slot). A reply to a device whose
//! credential is due carries its next one (`crate::service::credentials`).

use super::auth::AuthedDevice;
use super::body::{read_body, require_content_type};
use super::{blocking, AppState};
use crate::credentials::SecretKind;
use crate::error::ApiError;
use crate::service::credentials;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use fieldcase_core::protocol::{
    decode_body, encode_body, CodecError, Credential, Limit, SyncRequest, CONTENT_TYPE,
    MAX_COMPRESSED_BODY_BYTES,
};

pub async fn sync(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_content_type(&headers, CONTENT_TYPE)?;
    let bytes = read_body(&headers, body, MAX_COMPRESSED_BODY_BYTES).await?;
    // Taken after the upload: a phone trickling 8 MiB over 2G must not hold a slot while
    // others wait. The slot bounds what is expensive — decompression and the transaction.
    let _slot = state
        .sync_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable())?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let for_work = device.clone();
    let rotate = credentials::due_for_rotation(&device, now, &state.credential_policy);
    let (encoded, stats) = blocking(move || {
        let request: SyncRequest = decode_body(&bytes).map_err(codec_error)?;
        let (mut response, stats) = crate::sync::sync(&*storage, &for_work, &request, now)?;
        if rotate {
            // Stored before the reply leaves: the device may use it from its next request.
            let next = crate::credentials::new_bearer_secret();
            let hash = crate::credentials::hash_secret(SecretKind::DeviceCredential, &next);
            storage.stage_device_credential(for_work.id, &hash)?;
            response.next_credential = Some(Credential(next));
        }
        Ok::<_, ApiError>((encode_body(&response), stats))
    })
    .await?;
    state.metrics.observe_sync(&stats);
    tracing::info!(
        device = %device.id,
        agency = %device.agency,
        pushed = stats.pushed,
        applied = stats.applied,
        skipped = stats.skipped,
        rejected = stats.rejected,
        gap = stats.gap,
        pulled = stats.pulled,
        commands = stats.commands,
        reset = stats.reset,
        "sync"
    );
    let mut response = encoded.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

fn codec_error(e: CodecError) -> ApiError {
    match e {
        CodecError::TooLarge(_) => ApiError::payload_too_large(MAX_COMPRESSED_BODY_BYTES),
        CodecError::DecompressedTooLarge => too_large(Limit::Decompressed(
            fieldcase_core::protocol::MAX_DECOMPRESSED_BODY_BYTES,
        )),
        // The limit's text names only the bound, never the input. Too many operations or
        // commands is a protocol breach (the device must split its push), as it always was.
        CodecError::Limit(limit @ (Limit::Operations(_) | Limit::Commands(_))) => {
            ApiError::bad_request(format!(
                "the sync body is refused: {limit}; send the rest in the next sync"
            ))
        }
        CodecError::Limit(limit) => too_large(limit),
        CodecError::Compression => {
            ApiError::bad_request("the body is not valid zstd (truncated or not compressed?)")
        }
        // The codec's text comes from serde_json and may quote the input: keep the position.
        CodecError::Json(text) => ApiError::bad_request(format!(
            "the body is not a valid sync request{}",
            position_of(&text)
        )),
    }
}

/// 413 naming the bound a body crossed: the body as a whole is refused and nothing of it is
/// applied. A device meets this only if it ignores its own push bound
/// (`MAX_PUSH_JSON_BYTES`) or holds a value the case model refuses.
fn too_large(limit: Limit) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        fieldcase_core::protocol::ErrorCode::PayloadTooLarge,
        format!("the sync body is refused: {limit}; send fewer or smaller operations"),
    )
}

/// `" (line L, column C)"` from a serde_json message, or nothing.
fn position_of(message: &str) -> String {
    message
        .rsplit_once(" at line ")
        .and_then(|(_, tail)| {
            let (line, column) = tail.split_once(" column ")?;
            let line: u64 = line.parse().ok()?;
            let column: u64 = column.parse().ok()?;
            Some(format!(" (line {line}, column {column})"))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_messages_keep_only_the_position() {
        let e = serde_json::from_str::<u32>("\"Maria\"").unwrap_err();
        let api = codec_error(CodecError::Json(e.to_string()));
        assert!(!api.message.contains("Maria"));
        assert!(
            api.message.ends_with("(line 1, column 7)"),
            "{}",
            api.message
        );
    }
}
