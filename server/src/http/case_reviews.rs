//! `GET /v1/case-reviews`: the cases of the caller's agency that need review — merged answers
//! that break a rule between fields of their forms ([`crate::service::review`]).
//!
//! Only the agency's own supervisors and admins see them (an agency-admin token, a
//! `supervisor` or `agency_admin` user's API token); a system admin, an analyst or a
//! caseworker gets 403: the list is the agency's case work, not a network figure.

use super::principal::Principal;
use super::{blocking, AppState};
use crate::error::ApiError;
use crate::report_api::{CaseReviewBody, CaseReviewsBody};
use crate::service::review;
use crate::time::rfc3339;
use axum::extract::State;
use axum::Json;

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<CaseReviewsBody>, ApiError> {
    let agency = principal.case_review_agency()?;
    let storage = state.storage.clone();
    let flagged = blocking(move || review::list(&*storage, &agency)).await?;
    Ok(Json(CaseReviewsBody {
        cases: flagged
            .into_iter()
            .map(|case| CaseReviewBody {
                case_id: case.case_id.to_string(),
                flagged_at: rfc3339(case.flagged_ms),
                reasons: case.reasons,
            })
            .collect(),
    }))
}
