//! Listing, revoking and rotating credentials: admin tokens (`/v1/admin/tokens…`), users' API
//! tokens (`/v1/admin/api-tokens…`) and enrollment codes (`/v1/admin/enrollment-codes…`).
//!
//! Scoped like every admin route: a system admin sees and revokes everything, an agency admin
//! only what belongs to its agency, and another agency's credential is answered exactly like
//! an id that does not exist (`404`, same body). Listings never carry a secret or its hash:
//! ids, labels, scopes and times only. A revoked credential stops working on the next
//! request (every request looks the credential up); an expired one the same way.

use super::admin::list_scope;
use super::auth::Admin;
use super::body::JsonBody;
use super::{blocking, AppState};
use crate::api::*;
use crate::config::{DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS};
use crate::credentials::{self, SecretKind};
use crate::error::ApiError;
use crate::report_api::ApiTokenInfoBody;
use crate::storage::{AdminTokenInfo, ApiTokenInfo, EnrollmentCodeInfo, NewAdminToken};
use crate::time::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;

const DAY_MS: u64 = 86_400_000;

/// When a token issued at `now_ms` for `days` (the default when `None`) expires; a 400 for a
/// validity outside 1 to [`MAX_TOKEN_DAYS`].
pub fn expiry(now_ms: u64, days: Option<u32>) -> Result<u64, ApiError> {
    let days = days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "expires_days must be 1 to {MAX_TOKEN_DAYS}"
        )));
    }
    Ok(now_ms.saturating_add(u64::from(days) * DAY_MS))
}

fn admin_token_body(t: AdminTokenInfo) -> AdminTokenInfoBody {
    AdminTokenInfoBody {
        id: t.id,
        agency: t.scope.agency().map(|a| a.to_string()),
        label: t.label,
        created_at: rfc3339(t.created_at_ms),
        expires_at: rfc3339(t.expires_at_ms),
        last_used_at: t.last_used_at_ms.map(rfc3339),
        revoked_at: t.revoked_at_ms.map(rfc3339),
    }
}

fn api_token_body(t: ApiTokenInfo) -> ApiTokenInfoBody {
    ApiTokenInfoBody {
        id: t.id,
        user_id: t.user_id,
        agency: t.agency.to_string(),
        role: t.role,
        limited_to: t.limited_to.map(|a| a.to_string()),
        grants: t.grants.into_iter().collect(),
        label: t.label,
        created_at: rfc3339(t.created_at_ms),
        expires_at: rfc3339(t.expires_at_ms),
        last_used_at: t.last_used_at_ms.map(rfc3339),
        revoked_at: t.revoked_at_ms.map(rfc3339),
    }
}

fn code_body(c: EnrollmentCodeInfo) -> EnrollmentCodeInfoBody {
    EnrollmentCodeInfoBody {
        id: c.id,
        user_id: c.user_id,
        agency: c.agency.to_string(),
        created_at: rfc3339(c.created_at_ms),
        expires_at: rfc3339(c.expires_at_ms),
        used_at: c.used_at_ms.map(rfc3339),
        revoked_at: c.revoked_at_ms.map(rfc3339),
    }
}

/// `GET /v1/admin/tokens`
pub async fn list_admin_tokens(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<AdminTokenInfoBody>>, ApiError> {
    let Ok(scope) = list_scope(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let tokens = blocking(move || storage.list_admin_tokens(scope.as_ref())).await?;
    Ok(Json(tokens.into_iter().map(admin_token_body).collect()))
}

/// `POST /v1/admin/tokens/{token_id}/revoke`
pub async fn revoke_admin_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<AdminTokenInfoBody>, ApiError> {
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let now = state.time.now_ms();
    let token = blocking(move || storage.revoke_admin_token(&id, scope.as_ref(), now))
        .await?
        .ok_or_else(|| ApiError::not_found("admin token"))?;
    tracing::info!(token = %token.id, "admin token revoked");
    Ok(Json(admin_token_body(token)))
}

/// `POST /v1/admin/tokens/rotate`: a new token with the caller's scope and label; the
/// caller's token stops working. When the caller's token is the one first start wrote to
/// `<data-dir>/admin.token`, that file is deleted: it holds a dead secret from now on.
pub async fn rotate_admin_token(
    State(state): State<AppState>,
    admin: Admin,
    parts: Parts,
    JsonBody(body): JsonBody<RotateAdminTokenBody>,
) -> Result<(StatusCode, Json<AdminTokenBody>), ApiError> {
    let now = state.time.now_ms();
    let expires_at_ms = expiry(now, body.expires_days)?;
    let Admin(scope, old_id) = admin;
    let storage = state.storage.clone();
    let label = {
        let scope = scope.agency().cloned();
        let old_id = old_id.clone();
        blocking(move || storage.list_admin_tokens(scope.as_ref()))
            .await?
            .into_iter()
            .find(|t| t.id == old_id)
            .map(|t| t.label)
            .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked admin token"))?
    };
    let token = credentials::new_bearer_secret();
    let record = NewAdminToken {
        token_hash: credentials::hash_secret(SecretKind::AdminToken, &token),
        scope: scope.clone(),
        label: label.clone(),
        created_at_ms: now,
        expires_at_ms,
    };
    let storage = state.storage.clone();
    let revoked = old_id.clone();
    let id = blocking(move || storage.rotate_admin_token(&revoked, &record, now))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked admin token"))?;
    tracing::info!(old = %old_id, new = %id, "admin token rotated");
    if let (Some(file), Some(presented)) = (&state.admin_token_file, super::auth::bearer(&parts)) {
        remove_if_holds(file, presented);
    }
    Ok((
        StatusCode::CREATED,
        Json(AdminTokenBody {
            token,
            id,
            agency: scope.agency().map(|a| a.to_string()),
            label,
            created_at: rfc3339(now),
            expires_at: rfc3339(expires_at_ms),
        }),
    ))
}

/// Deletes the first-start token file when it holds `secret` (compared by hash, so the file's
/// content is never compared byte by byte with what a caller sent).
fn remove_if_holds(file: &std::path::Path, secret: &str) {
    let Ok(content) = std::fs::read_to_string(file) else {
        return;
    };
    let held = credentials::hash_secret(SecretKind::AdminToken, content.trim());
    if held == credentials::hash_secret(SecretKind::AdminToken, secret) {
        match std::fs::remove_file(file) {
            Ok(()) => {
                tracing::info!(path = %file.display(), "removed the rotated first admin token file")
            }
            Err(e) => {
                tracing::warn!(path = %file.display(), error = %e, "could not remove the rotated admin token file")
            }
        }
    }
}

/// `GET /v1/admin/api-tokens`
pub async fn list_api_tokens(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<ApiTokenInfoBody>>, ApiError> {
    let Ok(scope) = list_scope(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let tokens = blocking(move || storage.list_api_tokens(scope.as_ref())).await?;
    Ok(Json(tokens.into_iter().map(api_token_body).collect()))
}

/// `POST /v1/admin/api-tokens/{token_id}/revoke`
pub async fn revoke_api_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<ApiTokenInfoBody>, ApiError> {
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let now = state.time.now_ms();
    let token = blocking(move || storage.revoke_api_token(&id, scope.as_ref(), now))
        .await?
        .ok_or_else(|| ApiError::not_found("API token"))?;
    tracing::info!(token = %token.id, user = %token.user_id, "API token revoked");
    Ok(Json(api_token_body(token)))
}

/// `GET /v1/admin/enrollment-codes`
pub async fn list_enrollment_codes(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<EnrollmentCodeInfoBody>>, ApiError> {
    let Ok(scope) = list_scope(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let codes = blocking(move || storage.list_enrollment_codes(scope.as_ref())).await?;
    Ok(Json(codes.into_iter().map(code_body).collect()))
}

/// `POST /v1/admin/enrollment-codes/{code_id}/revoke`: an unused code can no longer enroll.
pub async fn revoke_enrollment_code(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<EnrollmentCodeInfoBody>, ApiError> {
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let now = state.time.now_ms();
    let code = blocking(move || storage.revoke_enrollment_code(&id, scope.as_ref(), now))
        .await?
        .ok_or_else(|| ApiError::not_found("enrollment code"))?;
    tracing::info!(code_id = %code.id, agency = %code.agency, "enrollment code revoked");
    Ok(Json(code_body(code)))
}
