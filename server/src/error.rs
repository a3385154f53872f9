//! Errors as the HTTP API answers them: a status and an [`ErrorBody`] on every route.
//!
//! Messages are written for the person reading them (what is wrong, what to do) and never
//! contain a field value, a secret or a name. Internal failures are logged with their cause
//! and answered with a generic message.

use crate::storage::StorageError;
use crate::sync::SyncError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldcase_core::protocol::{ErrorBody, ErrorCode};
use std::borrow::Cow;

/// An error reply.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn device_revoked() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::DeviceRevoked,
            "this device was revoked by an administrator: wipe all fieldcase data on it now, \
             then ask your administrator for a new enrollment code if you still need access",
        )
    }

    pub fn credential_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::CredentialExpired,
            "this device's credential expired after too long without a sync; an administrator \
             can renew the device (fieldcase admin device renew), and nothing on it is lost",
        )
    }

    pub fn credential_replaced() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::CredentialReplaced,
            "this credential was replaced by a newer one: it is an old copy",
        )
    }

    pub fn store_untrusted() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::StoreUntrusted,
            "this device's store was copied back from an older file or its unlock record was \
             edited: the server no longer accepts it. Nothing on the device is deleted; ask \
             your administrator to enroll the device again",
        )
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// "No such …": the same answer whether the object does not exist or belongs to an
    /// agency the caller cannot see.
    pub fn not_found(what: &'static str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no such {what}"),
        )
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes; send fewer operations per request"),
        )
    }

    pub fn unsupported_media_type(expected: &'static str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("send the body as Content-Type: {expected}"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server failed to handle this request; it is safe to retry later",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is shutting down or overloaded; retry later",
        )
    }

    /// The generic error for a bare status (unknown route, wrong method, layer rejections).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::new(status, ErrorCode::NotFound, "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                ErrorCode::BadRequest,
                "this route does not accept that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(status, ErrorCode::PayloadTooLarge, "the body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                ErrorCode::UnsupportedMediaType,
                "unsupported content type",
            ),
            StatusCode::UNAUTHORIZED => Self::unauthorized("authentication required"),
            StatusCode::FORBIDDEN => Self::forbidden("not allowed"),
            StatusCode::TOO_MANY_REQUESTS => {
                Self::new(status, ErrorCode::TooManyRequests, "too many requests")
            }
            StatusCode::SERVICE_UNAVAILABLE => Self::unavailable(),
            s if s.is_server_error() => Self {
                status: s,
                ..Self::internal()
            },
            s => Self::new(s, ErrorCode::BadRequest, "the request was not understood"),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code,
            message: self.message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).expect("error bodies serialize");
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::AlreadyExists(what) => {
                ApiError::conflict(format!("{what} already exists"))
            }
            StorageError::NotFound(what) => ApiError::not_found(what),
            StorageError::DeviceRevoked => ApiError::device_revoked(),
            StorageError::StoreUntrusted => ApiError::store_untrusted(),
            StorageError::InvalidPush(why) => ApiError::bad_request(why),
            StorageError::Conflict(why) => ApiError::conflict(why),
            StorageError::Rejected(why) => ApiError::bad_request(why),
            StorageError::Integrity(_) | StorageError::Backend(_) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::UnsupportedProtocol(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedProtocol,
                e.to_string(),
            ),
            SyncError::BadRequest(message) => ApiError::bad_request(message),
            SyncError::Storage(e) => e.into(),
        }
    }
}
