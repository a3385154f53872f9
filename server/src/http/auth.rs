//! Who is calling: device credentials on `/v1/sync`, admin tokens on `/v1/admin/…`.
//!
//! Both are `Authorization: Bearer <secret>`, found by the hash of the secret
//! ([`crate::credentials`]). A device credential is also judged by its age and slot
//! ([`crate::service::credentials`]): expired, replaced (a copy) or rotated (first use). The two kinds hash under different prefixes and live in
//! different tables, so a device credential is simply unknown to the admin routes and an
//! admin token unknown to sync: both get 401.
//!
//! A user's API token (reports and duplicate review, [`super::principal`]) is recognized on
//! these routes only to refuse it with 403: it names a real user who is simply not allowed
//! case data or administration, and saying so is clearer than "unknown credential".

use super::{blocking, AppState};
use crate::credentials::{hash_secret, SecretKind};
use crate::error::ApiError;
use crate::service::credentials::{judge, Verdict};
use crate::storage::{AdminScope, CredentialSlot, DeviceAuth};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// Longest bearer secret looked at; ours are 43 characters.
const MAX_BEARER_CHARS: usize = 256;

const DEVICE_HELP: &str =
    "send the device credential from enrollment as Authorization: Bearer <credential>";
const ADMIN_HELP: &str = "send an admin token as Authorization: Bearer <token>";

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !secret.is_empty()
        && secret.len() <= MAX_BEARER_CHARS)
        .then_some(secret)
}

/// An authenticated, non-revoked device.
#[derive(Clone, Debug)]
pub struct AuthedDevice(pub DeviceAuth);

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = bearer(parts).ok_or_else(|| ApiError::unauthorized(DEVICE_HELP))?;
        let hash = hash_secret(SecretKind::DeviceCredential, secret);
        let storage = state.storage.clone();
        let now = state.time.now_ms();
        let policy = state.credential_policy;
        let found = blocking(move || {
            let Some(mut device) = storage.device_by_credential(&hash)? else {
                return Ok(None);
            };
            if !device.revoked && judge(&device, now, &policy) == Verdict::Promote {
                // The first use of a rotated credential. Two requests racing with it both
                // see it current afterwards; one staged again meanwhile makes it unknown.
                if storage.promote_device_credential(device.id, &hash, now)? {
                    device.credential = CredentialSlot::Current;
                    device.credential_issued_at_ms = now;
                } else {
                    return storage.device_by_credential(&hash);
                }
            }
            Ok::<_, crate::storage::StorageError>(Some(device))
        })
        .await?;
        match found {
            None => {
                refuse_api_token(
                    state,
                    secret,
                    "case data is synced only by enrolled devices",
                )
                .await?;
                Err(ApiError::unauthorized(
                    "unknown device credential; enroll this device again",
                ))
            }
            Some(device) if device.revoked => {
                tracing::info!(device = %device.id, agency = %device.agency, "revoked device refused");
                Err(ApiError::device_revoked())
            }
            Some(device) => match judge(&device, now, &policy) {
                Verdict::Accept | Verdict::Promote => Ok(AuthedDevice(device)),
                Verdict::Expired => {
                    tracing::info!(device = %device.id, agency = %device.agency, "expired device credential refused");
                    Err(ApiError::credential_expired())
                }
                Verdict::Replaced => {
                    tracing::warn!(
                        device = %device.id,
                        agency = %device.agency,
                        "a replaced credential of this device was presented: a copy of it \
                         exists; revoke the device if it was not restored from a backup"
                    );
                    Err(ApiError::credential_replaced())
                }
            },
        }
    }
}

/// An authenticated admin: the scope of their token, and the token's public id (what
/// rotation revokes).
#[derive(Clone, Debug)]
pub struct Admin(pub AdminScope, pub String);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = bearer(parts).ok_or_else(|| ApiError::unauthorized(ADMIN_HELP))?;
        let hash = hash_secret(SecretKind::AdminToken, secret);
        let storage = state.storage.clone();
        let now = state.time.now_ms();
        match blocking(move || storage.admin_by_token(&hash, now)).await? {
            Some(auth) => Ok(Admin(auth.scope, auth.id)),
            None => {
                refuse_api_token(state, secret, "administration needs an admin token").await?;
                Err(ApiError::unauthorized(
                    "unknown, expired or revoked admin token",
                ))
            }
        }
    }
}

/// A 403 when `secret` is a live API token: such tokens are for aggregates and review only.
pub(crate) async fn refuse_api_token(
    state: &AppState,
    secret: &str,
    why: &str,
) -> Result<(), ApiError> {
    let hash = hash_secret(SecretKind::ApiToken, secret);
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    if blocking(move || storage.api_token_user(&hash, now))
        .await?
        .is_some()
    {
        return Err(ApiError::forbidden(format!(
            "this API token is for reports only: {why}"
        )));
    }
    Ok(())
}

impl Admin {
    /// Refuses anything but a system admin.
    pub fn require_system(&self) -> Result<(), ApiError> {
        match self.0 {
            AdminScope::System => Ok(()),
            AdminScope::Agency(_) => {
                Err(ApiError::forbidden("only a system admin token may do this"))
            }
        }
    }
}
