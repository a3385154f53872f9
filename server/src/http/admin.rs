//! `/v1/admin/…`: agencies, users, enrollment codes, devices, admin tokens.
//!
//! A system-admin token sees the whole network; an agency-admin token sees its own agency and
//! nothing else. An object outside the caller's agency is answered exactly as an object that
//! does not exist (same status, same body): `404 no such user`, `404 no such device`, `404 no
//! such agency`, or an empty list. A malformed id is just another id that does not exist.

use super::auth::Admin;
use super::body::JsonBody;
use super::enroll::check_label;
use super::{blocking, AppState};
use crate::api::*;
use crate::config::MAX_ENROLLMENT_CODE_HOURS;
use crate::credentials::{self, SecretKind};
use crate::error::ApiError;
use crate::roles::Role;
use crate::service::Service;
use crate::storage::{AdminScope, Agency, Device, NewAdminToken, NewEnrollmentCode, NewUser, User};
use crate::time::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use fieldcase_core::{AgencyCode, DeviceId};

fn agency_body(a: Agency) -> AgencyBody {
    AgencyBody {
        code: a.code.to_string(),
        name: a.name,
        created_at: rfc3339(a.created_at_ms),
    }
}

fn user_body(u: User) -> UserBody {
    UserBody {
        id: u.id,
        agency: u.agency.to_string(),
        role: u.role,
        display_name: u.display_name,
        created_at: rfc3339(u.created_at_ms),
    }
}

pub fn device_body(d: Device) -> DeviceBody {
    DeviceBody {
        id: d.id.to_string(),
        agency: d.agency.to_string(),
        user_id: d.user_id,
        label: d.label,
        created_at: rfc3339(d.created_at_ms),
        last_seen_at: d.last_seen_at_ms.map(rfc3339),
        last_seq: d.last_seq,
        revoked_at: d.revoked_at_ms.map(rfc3339),
    }
}

/// The agency a caller may address, or `None` when it is malformed or outside their scope —
/// which callers answer exactly like an agency that does not exist.
pub(super) fn addressable_agency(admin: &Admin, code: &str) -> Option<AgencyCode> {
    let code = AgencyCode::parse(code).ok()?;
    match &admin.0 {
        AdminScope::System => Some(code),
        AdminScope::Agency(own) => (own == &code).then_some(code),
    }
}

/// What a list is limited to: `Ok(None)` everything (system admin, no filter), `Ok(Some(a))`
/// one agency, `Err(())` nothing (a filter the caller cannot see, or a malformed code).
pub(super) fn list_scope(admin: &Admin, filter: &AgencyFilter) -> Result<Option<AgencyCode>, ()> {
    match (&filter.agency, admin.0.agency()) {
        (None, scope) => Ok(scope.cloned()),
        (Some(code), _) => addressable_agency(admin, code).map(Some).ok_or(()),
    }
}

pub async fn create_agency(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<NewAgencyBody>,
) -> Result<(StatusCode, Json<AgencyBody>), ApiError> {
    admin.require_system()?;
    let code = AgencyCode::parse(&body.code).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = check_label("name", &body.name)?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let agency = blocking(move || storage.create_agency(&code, &name, now)).await?;
    tracing::info!(agency = %agency.code, "agency created");
    Ok((StatusCode::CREATED, Json(agency_body(agency))))
}

pub async fn list_agencies(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<AgencyBody>>, ApiError> {
    let storage = state.storage.clone();
    let only = admin.0.agency().cloned();
    let agencies = blocking(move || storage.list_agencies(only.as_ref())).await?;
    Ok(Json(agencies.into_iter().map(agency_body).collect()))
}

/// `PUT /v1/admin/agencies/{code}/device-policy`: the erase limit and lease of the agency's
/// devices, checked against their bounds ([`crate::service::device_store`]).
pub async fn set_device_policy(
    State(state): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    JsonBody(policy): JsonBody<fieldcase_core::device_policy::DevicePolicy>,
) -> Result<Json<fieldcase_core::device_policy::DevicePolicy>, ApiError> {
    let agency = addressable_agency(&admin, &code).ok_or_else(|| ApiError::not_found("agency"))?;
    let storage = state.storage.clone();
    let set = agency.clone();
    blocking(move || crate::service::device_store::set_agency_policy(&*storage, &set, &policy))
        .await?;
    tracing::info!(agency = %agency, "device policy set");
    Ok(Json(policy))
}

pub async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<NewUserBody>,
) -> Result<(StatusCode, Json<UserBody>), ApiError> {
    let agency =
        addressable_agency(&admin, &body.agency).ok_or_else(|| ApiError::not_found("agency"))?;
    if body.role == Role::SystemAdmin {
        admin.require_system()?;
    }
    let user = NewUser {
        agency,
        role: body.role,
        display_name: check_label("display_name", &body.display_name)?,
    };
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let user = blocking(move || storage.create_user(&user, now)).await?;
    tracing::info!(user = %user.id, agency = %user.agency, role = %user.role, "user created");
    Ok((StatusCode::CREATED, Json(user_body(user))))
}

pub async fn list_users(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<UserBody>>, ApiError> {
    let Ok(scope) = list_scope(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let users = blocking(move || storage.list_users(scope.as_ref())).await?;
    Ok(Json(users.into_iter().map(user_body).collect()))
}

pub async fn create_enrollment_code(
    State(state): State<AppState>,
    admin: Admin,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<NewEnrollmentCodeBody>,
) -> Result<(StatusCode, Json<EnrollmentCodeBody>), ApiError> {
    let hours = body.expires_hours.unwrap_or(state.enrollment_code_hours);
    if !(1..=MAX_ENROLLMENT_CODE_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(format!(
            "expires_hours must be 1 to {MAX_ENROLLMENT_CODE_HOURS}"
        )));
    }
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let user = blocking(move || storage.user(&user_id, scope.as_ref()))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if !user.role.may_enroll_device() {
        return Err(ApiError::bad_request(
            "only caseworkers and supervisors enroll devices (devices sync case data)",
        ));
    }
    let code = credentials::new_enrollment_code();
    let canonical = credentials::normalize_enrollment_code(&code)
        .expect("a generated code is always well-formed");
    let now = state.time.now_ms();
    let expires_at_ms = now + u64::from(hours) * 3_600_000;
    let record = NewEnrollmentCode {
        code_hash: credentials::hash_secret(SecretKind::EnrollmentCode, &canonical),
        user_id: user.id.clone(),
        agency: user.agency.clone(),
        created_at_ms: now,
        expires_at_ms,
    };
    let storage = state.storage.clone();
    let id = blocking(move || storage.create_enrollment_code(&record)).await?;
    tracing::info!(code_id = %id, user = %user.id, agency = %user.agency, hours, "enrollment code issued");
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentCodeBody {
            code,
            id,
            user_id: user.id,
            agency: user.agency.to_string(),
            expires_at: rfc3339(expires_at_ms),
            pins: state
                .certificate
                .iter()
                .map(|certificate| certificate.pin())
                .chain(state.tls_backup_pins.iter().copied())
                .map(|pin| pin.to_string())
                .collect(),
        }),
    ))
}

pub async fn list_devices(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<DeviceBody>>, ApiError> {
    let Ok(scope) = list_scope(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let devices = blocking(move || storage.list_devices(scope.as_ref())).await?;
    Ok(Json(devices.into_iter().map(device_body).collect()))
}

pub async fn revoke_device(
    State(state): State<AppState>,
    admin: Admin,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceBody>, ApiError> {
    let device = change_device(&state, &admin, &device_id, |storage, id, scope, now| {
        storage.revoke_device(id, scope, now)
    })
    .await?;
    tracing::info!(device = %device.id, agency = %device.agency, "device revoked");
    Ok(Json(device_body(device)))
}

/// Restarts the lifetime of a device's credential (in the admin's scope). A revoked device
/// stays revoked.
pub async fn renew_device(
    State(state): State<AppState>,
    admin: Admin,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceBody>, ApiError> {
    let device = change_device(&state, &admin, &device_id, |storage, id, scope, now| {
        storage.renew_device_credential(id, scope, now)
    })
    .await?;
    tracing::info!(device = %device.id, agency = %device.agency, "device credential renewed");
    Ok(Json(device_body(device)))
}

/// Runs `change` on a device in the admin's scope; a malformed id, an unknown device and one
/// of another agency are all "no such device".
async fn change_device(
    state: &AppState,
    admin: &Admin,
    device_id: &str,
    change: impl FnOnce(
            &dyn crate::storage::Storage,
            DeviceId,
            Option<&fieldcase_core::AgencyCode>,
            u64,
        ) -> Result<Option<crate::storage::Device>, crate::storage::StorageError>
        + Send
        + 'static,
) -> Result<crate::storage::Device, ApiError> {
    let id: DeviceId = device_id
        .parse()
        .map_err(|_| ApiError::not_found("device"))?;
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let now = state.time.now_ms();
    blocking(move || change(&*storage, id, scope.as_ref(), now))
        .await?
        .ok_or_else(|| ApiError::not_found("device"))
}

pub async fn create_admin_token(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<NewAdminTokenBody>,
) -> Result<(StatusCode, Json<AdminTokenBody>), ApiError> {
    admin.require_system()?;
    let agency =
        addressable_agency(&admin, &body.agency).ok_or_else(|| ApiError::not_found("agency"))?;
    let label = check_label("label", &body.label)?;
    let now = state.time.now_ms();
    let expires_at_ms = super::tokens::expiry(now, body.expires_days)?;
    let token = credentials::new_bearer_secret();
    let record = NewAdminToken {
        token_hash: credentials::hash_secret(SecretKind::AdminToken, &token),
        scope: AdminScope::Agency(agency.clone()),
        label: label.clone(),
        created_at_ms: now,
        expires_at_ms,
    };
    let storage = state.storage.clone();
    let id = blocking(move || storage.create_admin_token(&record)).await?;
    tracing::info!(token = %id, agency = %agency, "agency admin token created");
    Ok((
        StatusCode::CREATED,
        Json(AdminTokenBody {
            token,
            id,
            agency: Some(agency.to_string()),
            label,
            created_at: rfc3339(now),
            expires_at: rfc3339(expires_at_ms),
        }),
    ))
}
