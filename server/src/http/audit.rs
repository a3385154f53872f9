//! `/v1/admin/audit…`: the audit trail of one case or one user, and the chain's signed
//! checkpoints (export, and one made now).
//!
//! Scoped like every other admin route ([`crate::service::audit::trail`] decides): a system
//! admin reads everything; an agency admin reads its own agency's acts and every act on a
//! case its agency owns; a user outside the scope is answered as one that does not exist.
//! Checkpoints vouch for the whole network's chain, so only a system admin exports or makes
//! them. Verifying the chain is offline (`fieldcase admin audit verify`), against the
//! database itself rather than through the server whose data is in question.

use super::auth::Admin;
use super::{blocking, AppState};
use crate::api::{AuditEntryBody, AuditTrailQuery};
use crate::error::ApiError;
use crate::service::audit::{self, TrailOf};
use crate::service::audit_chain::ExportedCheckpoint;
use crate::storage::ChainedAuditEntry;
use crate::time::rfc3339;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use fieldcase_core::RecordId;

pub fn entry_body(c: ChainedAuditEntry) -> AuditEntryBody {
    let e = c.entry;
    AuditEntryBody {
        seq: c.seq,
        at: rfc3339(e.at_ms),
        event: e.event.as_str().to_owned(),
        agency: e.agency.to_string(),
        device_id: e.device.map(|d| d.to_string()),
        user_id: e.user_id,
        record_id: e.record_id.map(|r| r.to_string()),
        first_position: e.first_position,
        last_position: e.last_position,
        ops: e.ops,
        detail: e.detail,
    }
}

pub async fn trail(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<AuditTrailQuery>,
) -> Result<Json<Vec<AuditEntryBody>>, ApiError> {
    let of = match (query.case, query.user) {
        (Some(case), None) => match case.parse::<RecordId>() {
            Ok(id) => TrailOf::Case(id),
            // A malformed id is just another id with no entries.
            Err(_) => return Ok(Json(Vec::new())),
        },
        (None, Some(user)) => TrailOf::User(user),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of case=<case id> or user=<user id>",
            ))
        }
    };
    let storage = state.storage.clone();
    let scope = admin.0.clone();
    let entries = blocking(move || audit::trail(&*storage, &scope, &of))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(entries.into_iter().map(entry_body).collect()))
}

pub async fn list_checkpoints(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<ExportedCheckpoint>>, ApiError> {
    admin.require_system()?;
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || audit::export_checkpoints(&*storage)).await?,
    ))
}

pub async fn create_checkpoint(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<(StatusCode, Json<ExportedCheckpoint>), ApiError> {
    admin.require_system()?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    blocking(move || audit::checkpoint_now(&*storage, now))
        .await?
        .map(|made| (StatusCode::CREATED, Json(made)))
        .ok_or_else(|| ApiError::conflict("the audit log is empty: nothing to sign yet"))
}
