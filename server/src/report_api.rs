//! The JSON bodies of the report, duplicate-review and API-token routes, shared by the server
//! and `fieldcase report` / `fieldcase duplicates`. Report bodies themselves are
//! [`crate::reports::format::ReportBody`].

use crate::roles::Grant;
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/users/{user_id}/api-tokens`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenBody {
    pub label: String,
    /// Only a system-admin token may give grants, and only to analysts and system admins.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Days until the token stops working; the server's default (90) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenBody {
    /// Shown once; the server keeps only a hash.
    pub token: String,
    /// The token's public id, for listing and revoking it.
    pub id: String,
    pub user_id: String,
    pub agency: String,
    pub role: crate::roles::Role,
    /// The agency its reports are limited to (a token an agency admin issued); `null`: as
    /// the role allows.
    pub limited_to: Option<String>,
    pub grants: Vec<Grant>,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
}

/// `GET /v1/admin/api-tokens`: one API token, without its secret or hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfoBody {
    pub id: String,
    pub user_id: String,
    pub agency: String,
    pub role: crate::roles::Role,
    pub limited_to: Option<String>,
    pub grants: Vec<Grant>,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// `POST /v1/admin/users/{user_id}/api-tokens/revoke`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedApiTokensBody {
    pub user_id: String,
    /// Live tokens revoked by this call (0 when there were none).
    pub revoked: u64,
}

/// One side of a duplicate pair: never a field of the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairSideBody {
    pub record_id: String,
    pub agency: String,
    pub intake_date: Option<String>,
}

/// One pair in the review list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateBody {
    /// `<record id>~<record id>`, for the confirm/reject routes.
    pub id: String,
    pub a: PairSideBody,
    pub b: PairSideBody,
    /// `null` for a decided pair that no longer scores.
    pub score: Option<f64>,
    /// Which features matched (see `docs/reports.md`).
    pub features: Option<serde_json::Value>,
    /// `pending`, `confirmed` or `rejected`.
    pub status: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
}

/// `GET /v1/duplicates`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateListBody {
    /// Pairs matching the filter, before paging.
    pub total: usize,
    pub offset: usize,
    pub candidates: Vec<CandidateBody>,
    pub min_candidate_score: f64,
    pub stats: ReviewStatsBody,
    /// When the scan the candidates come from started (RFC 3339).
    #[serde(default)]
    pub scanned_at: Option<String>,
    /// A newer scan is running in the background: cases synced since `scanned_at` show once it
    /// ends (large caseloads only; see `docs/reports.md`).
    #[serde(default)]
    pub refreshing: bool,
    /// The candidates are a first look at a large caseload's very first comparison: the pairs
    /// of this share of the match blocks, until the whole comparison (`refreshing`) ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_look: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewStatsBody {
    pub blocks: u64,
    pub blocks_skipped: u64,
    pub comparisons: u64,
}

/// `GET /v1/reports/options`: what the caller may ask, for building a form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportOptionsBody {
    pub params: Vec<String>,
    pub tables: Vec<String>,
    pub count: Vec<String>,
    pub disclosure: Vec<String>,
    pub formats: Vec<String>,
    pub regions: Vec<RegionBody>,
    pub agencies: Vec<String>,
    /// The name of every agency, by code (for people to read: referral partners too).
    #[serde(default)]
    pub agency_names: std::collections::BTreeMap<String, String>,
    pub threshold: u64,
    /// The caller's rights.
    pub scope_agency: Option<String>,
    pub exact_counts: bool,
    pub default_disclosure: String,
    pub review_duplicates: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionBody {
    pub id: String,
    pub name: String,
}

/// `GET /v1/case-reviews`: the caller's agency's cases that need review, oldest flag first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReviewsBody {
    pub cases: Vec<CaseReviewBody>,
}

/// One case that needs review: fields and rules it breaks, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReviewBody {
    pub case_id: String,
    /// When it came to need review (RFC 3339).
    pub flagged_at: String,
    pub reasons: Vec<fieldcase_core::store::ReviewReason>,
}
