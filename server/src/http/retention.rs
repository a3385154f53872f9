//! `/v1/admin/agencies/{code}/retention` and `/v1/admin/retention/purge`: how long an agency
//! keeps closed cases, and purging those past it now ([`crate::service::retention`]).
//!
//! An agency admin reads and sets its own agency's period (another agency is answered as one
//! that does not exist); a system admin any. Purging now runs over every agency, so only a
//! system admin may (the server also purges every [`crate::config::MAINTENANCE_INTERVAL`]).

use super::admin::addressable_agency;
use super::auth::Admin;
use super::body::JsonBody;
use super::{blocking, AppState};
use crate::api::RetentionBody;
use crate::error::ApiError;
use crate::service::retention::{self, PurgeReport};
use axum::extract::{Path, State};
use axum::Json;

pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
) -> Result<Json<RetentionBody>, ApiError> {
    let agency = addressable_agency(&admin, &code).ok_or_else(|| ApiError::not_found("agency"))?;
    let storage = state.storage.clone();
    let days = blocking(move || {
        if !storage.agency_exists(&agency)? {
            return Err(crate::storage::StorageError::NotFound("agency"));
        }
        retention::retention_days(&*storage, &agency)
    })
    .await?;
    Ok(Json(RetentionBody { days }))
}

pub async fn set(
    State(state): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<RetentionBody>,
) -> Result<Json<RetentionBody>, ApiError> {
    let agency = addressable_agency(&admin, &code).ok_or_else(|| ApiError::not_found("agency"))?;
    let storage = state.storage.clone();
    let logged = agency.clone();
    blocking(move || retention::set_retention_days(&*storage, &agency, body.days)).await?;
    tracing::info!(agency = %logged, days = ?body.days, "retention period set");
    Ok(Json(body))
}

pub async fn purge_now(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<PurgeReport>, ApiError> {
    admin.require_system()?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let report = blocking(move || retention::purge_expired(&*storage, now)).await?;
    tracing::info!(
        cases = report.cases,
        "purged closed cases past retention on request"
    );
    Ok(Json(report))
}
