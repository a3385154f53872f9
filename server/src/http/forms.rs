//! `/v1/admin/forms`: publishing form versions for an agency and listing them.
//!
//! The body of a publish is the form definition itself (JSON, the format of `docs/forms.md`;
//! `fieldcase admin form publish` converts an XLSForm workbook first). An agency admin
//! publishes for its own agency; a system admin names the agency with `?agency=`. The server
//! checks the definition, stores the version (immutable) and writes it as a `form` record
//! that devices of the agency receive on their next sync. A system admin may instead publish a
//! network-wide version (`?network=true`): for every agency, including those created later.

use super::auth::Admin;
use super::body::{read_body, require_content_type};
use super::{blocking, AppState};
use crate::api::{AgencyFilter, FormBody, PublishQuery};
use crate::error::ApiError;
use crate::service::Service;
use crate::storage::{AdminScope, PublishedForm};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use fieldcase_core::forms::definition::MAX_DEFINITION_BYTES;
use fieldcase_core::forms::FormDefinition;
use fieldcase_core::AgencyCode;

fn form_body(f: PublishedForm) -> FormBody {
    FormBody {
        agency: f.agency.to_string(),
        id: f.id,
        version: f.version,
        title: f.title,
        fields: f.fields,
        created: f.created,
    }
}

/// The agency a publish or list addresses: the caller's own, or (system admin) the one named.
fn target_agency(admin: &Admin, filter: &AgencyFilter) -> Result<Option<AgencyCode>, ApiError> {
    let named = filter
        .agency
        .as_deref()
        .map(|code| AgencyCode::parse(code).map_err(|_| ApiError::not_found("agency")))
        .transpose()?;
    match (&admin.0, named) {
        (AdminScope::System, named) => Ok(named),
        (AdminScope::Agency(own), None) => Ok(Some(own.clone())),
        (AdminScope::Agency(own), Some(named)) if named == *own => Ok(Some(named)),
        // Another agency is answered like one that does not exist.
        (AdminScope::Agency(_), Some(_)) => Err(ApiError::not_found("agency")),
    }
}

/// The `agency` of a network-wide publish's reply.
pub const ALL_AGENCIES: &str = "*";

pub async fn publish(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<PublishQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FormBody>), ApiError> {
    let network = query.network.unwrap_or(false);
    let agency = if network {
        admin.require_system()?;
        if query.agency.is_some() {
            return Err(ApiError::bad_request(
                "name an agency or network=true, not both",
            ));
        }
        None
    } else {
        let filter = AgencyFilter {
            agency: query.agency,
        };
        Some(target_agency(&admin, &filter)?.ok_or_else(|| {
            ApiError::bad_request(
                "a system admin names the agency to publish for (?agency=<code>) or publishes \
                 for the whole network (?network=true)",
            )
        })?)
    };
    require_content_type(&headers, "application/json")?;
    let bytes = read_body(&headers, body, MAX_DEFINITION_BYTES).await?;
    // A definition holds no personal data, so its errors may quote it.
    let form = FormDefinition::from_json(&bytes)
        .map_err(|e| ApiError::bad_request(format!("not a valid form definition: {e}")))?;
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    let Some(agency) = agency else {
        let summary = FormBody {
            agency: ALL_AGENCIES.to_owned(),
            id: form.id.to_string(),
            version: form.version,
            title: form.title.clone(),
            fields: form.fields().count(),
            created: false,
        };
        let each = blocking(move || storage.publish_network_form(&form, now)).await?;
        let created = each.iter().any(|f| f.created);
        tracing::info!(form = %summary.id, version = summary.version, agencies = each.len(), "network form published");
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return Ok((status, Json(FormBody { created, ..summary })));
    };
    let published = blocking(move || storage.publish_form(&agency, &form, now)).await?;
    let status = if published.created {
        tracing::info!(agency = %published.agency, form = %published.id, version = published.version, "form published");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(form_body(published))))
}

pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(filter): Query<AgencyFilter>,
) -> Result<Json<Vec<FormBody>>, ApiError> {
    // A list naming an agency outside the caller's scope is empty, as for other admin lists.
    let Ok(agency) = target_agency(&admin, &filter) else {
        return Ok(Json(Vec::new()));
    };
    let storage = state.storage.clone();
    let forms = blocking(move || storage.list_forms(agency.as_ref())).await?;
    Ok(Json(forms.into_iter().map(form_body).collect()))
}
