//! Reading request bodies within limits, before anything is parsed or decompressed.
//!
//! The declared `Content-Length` is checked first (a too-large body is refused without reading
//! a byte of it), then the body is read through a counting limit (for chunked bodies, or a
//! client that sends more than it declared). Parse errors name a position, never input text.

use super::AppState;
use crate::config::MAX_JSON_BODY_BYTES;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

/// Refuses a body whose declared type is not `expected` (parameters such as `charset` are
/// ignored).
pub fn require_content_type(headers: &HeaderMap, expected: &'static str) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if essence.as_deref() == Some(expected) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(expected))
    }
}

/// Reads a whole body of at most `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if declared > limit as u64 {
            return Err(ApiError::payload_too_large(limit));
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if is_length_limit(e.as_ref()) => Err(ApiError::payload_too_large(limit)),
        Err(_) => Err(ApiError::bad_request(
            "the body could not be read completely (the connection ended early?); retry",
        )),
    }
}

fn is_length_limit(mut e: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if e.is::<LengthLimitError>() {
            return true;
        }
        match e.source() {
            Some(inner) => e = inner,
            None => return false,
        }
    }
}

/// Describes a JSON parse error by category and position only: serde_json's own messages can
/// quote the input ("invalid type: string \"…\""), which may be personal data.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "could not be read",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "has a missing, unknown or mistyped field",
        serde_json::error::Category::Eof => "ends too early",
    };
    format!("the body {what} (line {}, column {})", e.line(), e.column())
}

/// A JSON body (`application/json`, at most [`MAX_JSON_BODY_BYTES`]).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        require_content_type(&parts.headers, "application/json")?;
        let bytes = read_body(&parts.headers, body, MAX_JSON_BODY_BYTES).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(describe_json_error(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn an_undeclared_body_is_cut_at_the_limit() {
        // No Content-Length header: only the counting limit stands between us and the body.
        let body = Body::from(vec![0u8; 1025]);
        let error = read_body(&HeaderMap::new(), body, 1024).await.unwrap_err();
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        let fits = read_body(&HeaderMap::new(), Body::from(vec![0u8; 1024]), 1024)
            .await
            .unwrap();
        assert_eq!(fits.len(), 1024);
    }

    #[test]
    fn json_errors_never_quote_the_input() {
        let e = serde_json::from_str::<fieldcase_core::protocol::EnrollRequest>(
            r#"{"code": 5, "device_label": "Maria's phone"}"#,
        )
        .unwrap_err();
        let message = describe_json_error(&e);
        assert!(
            !message.contains("Maria") && !message.contains('5'),
            "{message}"
        );
    }
}
