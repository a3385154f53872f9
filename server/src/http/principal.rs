//! Who is asking for reports or duplicate review, and what they may see.
//!
//! Reports and review accept an admin token or a user's API token
//! (`POST /v1/admin/users/{user_id}/api-tokens`). What each caller gets:
//!
//! | caller | scope | exact counts (`disclosure=internal`) | duplicate review |
//! |---|---|---|---|
//! | system-admin token, `system_admin` user | whole network | yes (default) | yes |
//! | agency-admin token, `agency_admin` or `supervisor` user | own agency only | yes (default) | no |
//! | `analyst` user, token from a system admin | whole network | only with the `exact_counts` grant | only with the `review_duplicates` grant |
//! | `analyst` user, token from an agency admin | own agency only | no | no |
//! | `caseworker` user | — (403) | — | — |
//!
//! Whatever the role, a token an agency admin issued is limited to that agency
//! ([`crate::storage::NewApiToken::limited_to`]) and carries no grant: network-wide figures
//! and grants come only from a system admin, so an agency admin cannot reach beyond its
//! agency by minting an analyst.
//!
//! CSV and HXL exports leave the network by nature and are always suppressed. An analyst
//! without the grant gets `public` by default and a 403 for `internal`. API tokens carry no
//! case access at all: every case-level route (sync, referral timelines, admin) answers them
//! with 403 (see [`super::auth`]).

use super::{blocking, AppState};
use crate::credentials::{hash_secret, SecretKind};
use crate::error::ApiError;
use crate::roles::{Grant, Role};
use crate::storage::AdminScope;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fieldcase_core::AgencyCode;
use std::collections::BTreeSet;

const HELP: &str = "send an admin token or a user's API token as Authorization: Bearer <token>";

/// The caller of a report or review route.
#[derive(Clone, Debug)]
pub enum Principal {
    Admin(AdminScope),
    User {
        id: String,
        agency: AgencyCode,
        role: Role,
        /// The agency this token's reports are limited to, whatever the role.
        limited_to: Option<AgencyCode>,
        grants: BTreeSet<Grant>,
    },
}

/// What a caller may ask of reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRights {
    /// Reports are limited to this agency.
    pub agency: Option<AgencyCode>,
    pub exact: bool,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = super::auth::bearer(parts).ok_or_else(|| ApiError::unauthorized(HELP))?;
        let admin_hash = hash_secret(SecretKind::AdminToken, secret);
        let api_hash = hash_secret(SecretKind::ApiToken, secret);
        let storage = state.storage.clone();
        let now = state.time.now_ms();
        let found = blocking(move || {
            if let Some(auth) = storage.admin_by_token(&admin_hash, now)? {
                return Ok(Some(Principal::Admin(auth.scope)));
            }
            Ok::<_, crate::storage::StorageError>(storage.api_token_user(&api_hash, now)?.map(
                |u| Principal::User {
                    id: u.user.id,
                    agency: u.user.agency,
                    role: u.user.role,
                    limited_to: u.limited_to,
                    grants: u.grants,
                },
            ))
        })
        .await?;
        found.ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))
    }
}

impl Principal {
    /// What this caller may ask of reports; 403 for callers with no business there.
    pub fn report_rights(&self) -> Result<ReportRights, ApiError> {
        match self {
            Principal::Admin(AdminScope::System) => Ok(ReportRights {
                agency: None,
                exact: true,
            }),
            Principal::Admin(AdminScope::Agency(a)) => Ok(ReportRights {
                agency: Some(a.clone()),
                exact: true,
            }),
            Principal::User {
                limited_to: Some(limited),
                role,
                grants,
                ..
            } => match role {
                Role::Caseworker => Err(ApiError::forbidden(
                    "reports are for analysts, supervisors and admins",
                )),
                _ => Ok(ReportRights {
                    agency: Some(limited.clone()),
                    exact: *role != Role::Analyst || grants.contains(&Grant::ExactCounts),
                }),
            },
            Principal::User {
                agency,
                role,
                grants,
                limited_to: None,
                ..
            } => match role {
                Role::SystemAdmin => Ok(ReportRights {
                    agency: None,
                    exact: true,
                }),
                Role::Analyst => Ok(ReportRights {
                    agency: None,
                    exact: grants.contains(&Grant::ExactCounts),
                }),
                Role::Supervisor | Role::AgencyAdmin => Ok(ReportRights {
                    agency: Some(agency.clone()),
                    exact: true,
                }),
                Role::Caseworker => Err(ApiError::forbidden(
                    "reports are for analysts, supervisors and admins",
                )),
            },
        }
    }

    /// The agency whose flagged cases this caller may list: its own, for an agency admin or
    /// supervisor; 403 for anyone else (see `super::case_reviews`).
    pub fn case_review_agency(&self) -> Result<AgencyCode, ApiError> {
        match self {
            Principal::Admin(AdminScope::Agency(agency)) => Ok(agency.clone()),
            Principal::User {
                agency,
                role: Role::Supervisor | Role::AgencyAdmin,
                ..
            } => Ok(agency.clone()),
            _ => Err(ApiError::forbidden(
                "cases that need review are for the agency's supervisors and admins",
            )),
        }
    }

    /// Refuses anyone who may not review duplicates.
    pub fn require_review(&self) -> Result<(), ApiError> {
        let allowed = match self {
            Principal::Admin(scope) => *scope == AdminScope::System,
            // The review list spans agencies: never for a token limited to one.
            Principal::User {
                role,
                grants,
                limited_to,
                ..
            } => {
                limited_to.is_none()
                    && (*role == Role::SystemAdmin || grants.contains(&Grant::ReviewDuplicates))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "duplicate review needs a system admin, or a token with the review_duplicates grant",
            ))
        }
    }

    /// Who acted, for the decision record: a user id, or `admin`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Admin(_) => "admin".to_owned(),
            Principal::User { id, .. } => id.clone(),
        }
    }
}
