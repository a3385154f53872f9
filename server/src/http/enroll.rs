//! `POST /v1/enroll`: a phone exchanges a one-time code for a device credential.
//!
//! The body is plain JSON (`application/json`), not zstd like sync: it is a few dozen bytes,
//! sent once per device, and a person may have to send it by hand while debugging a field
//! deployment. An unknown, used and expired code get the same 401 and the same message, so
//! the answer tells a guesser nothing; marking the code used and creating the device happen in
//! one transaction, so a code cannot enroll two devices.

use super::body::JsonBody;
use super::{blocking, AppState};
use crate::config::MAX_LABEL_CHARS;
use crate::credentials::{self, SecretKind};
use crate::error::ApiError;
use crate::storage::NewDevice;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use fieldcase_core::protocol::{EnrollRequest, EnrollResponse};
use fieldcase_core::DeviceId;

const INVALID_CODE: &str = "this enrollment code is not valid: it may be mistyped, already used \
                            or expired; ask your administrator for a new one";

/// Checks a label or name people will read in admin listings.
pub fn check_label(what: &str, label: &str) -> Result<String, ApiError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(label.to_owned())
}

pub async fn enroll(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<EnrollRequest>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let label = check_label("device_label", &request.device_label)?;
    let code = credentials::normalize_enrollment_code(&request.code)
        .ok_or_else(|| ApiError::unauthorized(INVALID_CODE))?;
    let code_hash = credentials::hash_secret(SecretKind::EnrollmentCode, &code);
    let credential = credentials::new_bearer_secret();
    let device = NewDevice {
        id: DeviceId::new_random(),
        label,
        credential_hash: credentials::hash_secret(SecretKind::DeviceCredential, &credential),
    };
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let enrollment = blocking(move || storage.redeem_enrollment_code(&code_hash, &device, now))
        .await?
        .ok_or_else(|| ApiError::unauthorized(INVALID_CODE))?;
    tracing::info!(
        device = %enrollment.device.id,
        agency = %enrollment.device.agency,
        "device enrolled"
    );
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            device_id: enrollment.device.id,
            agency: enrollment.device.agency,
            user_id: enrollment.device.user_id,
            role: enrollment.role.as_str().to_owned(),
            credential,
        }),
    ))
}
