//! `/v1/reports…`, `/v1/duplicates…` and the issuing of API tokens.
//!
//! Who may ask what is [`super::principal`]'s table. Reports are computed per request on a
//! blocking thread (one streaming pass over the facts in scope); public output goes through
//! [`crate::reports::disclosure::publish`] (cell-key perturbation, then the small-count rules)
//! before it leaves, and covers only the periods [`query::check_public_period`] allows.

use super::auth::Admin;
use super::body::JsonBody;
use super::enroll::check_label;
use super::principal::{Principal, ReportRights};
use super::{blocking, AppState};
use crate::config::MAX_REVIEW_PAGE;
use crate::credentials::{self, SecretKind};
use crate::error::ApiError;
use crate::report_api::*;
use crate::reports::duplicates::{self, Candidate, Status};
use crate::reports::engine::{self, CountMode, ReportRequest, TABLE_IDS};
use crate::reports::facts::FactFilter;
use crate::reports::format::{table_csv, Period, PerturbationBody, ReportBody, Scope};
use crate::reports::query::{self, Disclosure, Format, ReportParams};
use crate::reports::series::{self, MonthBody, SeriesBody};
use crate::reports::{cellkey, disclosure, regions};
use crate::roles::{Grant, Role};
use crate::storage::{DuplicateDecision, NewApiToken, StorageError};
use crate::time::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::{BTreeSet, HashMap};

pub async fn report_all(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = query::parse(&q, None).map_err(|e| ApiError::bad_request(e.0))?;
    report(state, principal, params).await
}

pub async fn report_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(table): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = query::parse(&q, Some(&table)).map_err(|e| ApiError::bad_request(e.0))?;
    report(state, principal, params).await
}

/// The disclosure a request gets, or why not.
fn decide_disclosure(
    params: &ReportParams,
    rights: &ReportRights,
    configured: u64,
) -> Result<(Disclosure, Option<u64>), ApiError> {
    let leaves = params.format != Format::Json;
    let wanted = match params.disclosure {
        Some(d) => d,
        None if leaves || !rights.exact => Disclosure::Public,
        None => Disclosure::Internal,
    };
    if wanted == Disclosure::Internal {
        if leaves {
            return Err(ApiError::bad_request(
                "csv and hxl exports leave the network and are always public: drop disclosure=internal",
            ));
        }
        if !rights.exact {
            return Err(ApiError::forbidden(
                "exact counts need the exact_counts grant; ask for disclosure=public",
            ));
        }
        if params.threshold.is_some() {
            return Err(ApiError::bad_request(
                "threshold applies to disclosure=public only",
            ));
        }
        return Ok((Disclosure::Internal, None));
    }
    let threshold = params.threshold.unwrap_or(configured);
    if threshold < configured {
        return Err(ApiError::bad_request(format!(
            "threshold may only be raised: at least {configured}"
        )));
    }
    Ok((Disclosure::Public, Some(threshold)))
}

/// Who a report is for and how it is published, decided once per request.
struct Publication {
    /// The agency the figures are limited to.
    agency: Option<fieldcase_core::AgencyCode>,
    disclosure: Disclosure,
    /// Public output: the suppression threshold.
    threshold: Option<u64>,
    perturbation: Option<cellkey::PerturbationTable>,
}

/// The caller's scope and disclosure for `params`, or why not (403, 400).
async fn publication(
    state: &AppState,
    principal: &Principal,
    params: &ReportParams,
) -> Result<Publication, ApiError> {
    let rights = principal.report_rights()?;
    let agency = match (&rights.agency, &params.agency) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::forbidden(
                "this token sees its own agency's figures only",
            ))
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked.clone(),
    };
    if let (Some(asked), None) = (&params.agency, &rights.agency) {
        let storage = state.storage.clone();
        let code = asked.clone();
        if !blocking(move || storage.agency_exists(&code)).await? {
            let storage = state.storage.clone();
            let all = blocking(move || storage.list_agencies(None)).await?;
            let codes: Vec<String> = all.into_iter().map(|a| a.code.to_string()).collect();
            return Err(ApiError::bad_request(format!(
                "unknown agency; allowed: {}",
                codes.join(", ")
            )));
        }
    }
    let (disclosure, threshold) = decide_disclosure(params, &rights, state.report_threshold)?;
    let perturbation = threshold.map(|_| cellkey::PerturbationTable::new(state.report_threshold));
    Ok(Publication {
        agency,
        disclosure,
        threshold,
        perturbation,
    })
}

/// The tables of `params` over `from`..=`to`, computed and, for public output, published
/// (perturbed, then suppressed); with the count of linked cases, published alike. Answers are
/// reused from [`crate::reports::cache`] while the data is unchanged; `refreshable` ones are
/// computed again after new data for the next reader.
async fn published_tables(
    state: &AppState,
    publication: &Publication,
    params: &ReportParams,
    from: Option<fieldcase_core::model::Date>,
    to: Option<fieldcase_core::model::Date>,
    refreshable: bool,
) -> Result<
    (
        Vec<crate::reports::table::Table>,
        crate::reports::table::Cell,
    ),
    ApiError,
> {
    let countries = match (params.country, params.region) {
        (Some(c), _) => Some(vec![c]),
        (None, Some(r)) => Some(regions::countries_of(r)),
        (None, None) => None,
    };
    let request = ReportRequest {
        filter: FactFilter {
            from,
            to,
            agency: publication.agency.clone(),
            countries,
        },
        count: params.count,
        tables: params.tables.clone(),
        keys: publication
            .perturbation
            .as_ref()
            .map(|_| state.storage.cell_keys()),
    };
    // Everything that decides the figures (codes, dates and the disclosure only).
    let key = format!(
        "{:?}|{:?}|{:?}|{}|{:?}",
        request.filter,
        request.count,
        request.tables,
        publication.disclosure.as_str(),
        publication.threshold
    );
    let storage = state.storage.clone();
    let cache = state.report_cache.clone();
    let (threshold, perturbation) = (publication.threshold, publication.perturbation.clone());
    let recipe: crate::reports::cache::Recipe = std::sync::Arc::new(move |storage| {
        let (mut tables, mut linked) = engine::compute(storage, &request)?;
        if let (Some(t), Some(table)) = (threshold, &perturbation) {
            for figures in &mut tables {
                disclosure::publish(figures, table, t);
            }
            disclosure::perturb(&mut linked, table);
            // Under a raised threshold, hidden like any table's count below it.
            if linked.count.is_some_and(|v| v > 0 && v < t) {
                linked.count = None;
            }
        }
        Ok((tables, linked))
    });
    let answer =
        blocking(move || cache.get_or_compute(storage.as_ref(), &key, recipe, refreshable)).await?;
    Ok((*answer).clone())
}

fn perturbation_body(p: &cellkey::PerturbationTable) -> PerturbationBody {
    PerturbationBody {
        method: "cell_key",
        max_perturbation: p.max_perturbation(),
        note: "counts are perturbed: each is within max_perturbation of the exact \
               count, the same cell always shows the same value, no count from 1 to \
               threshold - 1 is shown (small counts show as 0 or the threshold), and \
               totals are perturbed on their own, so rows need not add up to them",
    }
}

fn scope_body(publication: &Publication, params: &ReportParams) -> Scope {
    Scope {
        agency: publication.agency.as_ref().map(|a| a.to_string()),
        country: params.country.map(|c| c.to_string()),
        region: params.region.map(|r| r.id.to_owned()),
    }
}

fn count_code(count: CountMode) -> &'static str {
    match count {
        CountMode::Assistance => "assistance",
        CountMode::Individuals => "individuals",
    }
}

/// The newest sync of a device in scope (RFC 3339): the figures include nothing newer.
async fn data_as_of(
    state: &AppState,
    agency: Option<&fieldcase_core::AgencyCode>,
) -> Result<Option<String>, ApiError> {
    let storage = state.storage.clone();
    let agency = agency.cloned();
    let devices = blocking(move || storage.list_devices(agency.as_ref())).await?;
    Ok(devices
        .iter()
        .filter_map(|d| d.last_seen_at_ms)
        .max()
        .map(rfc3339))
}

async fn report(
    state: AppState,
    principal: Principal,
    params: ReportParams,
) -> Result<Response, ApiError> {
    let publication = publication(&state, &principal, &params).await?;
    if publication.disclosure == Disclosure::Public {
        query::check_public_period(params.from, params.to)
            .map_err(|e| ApiError::bad_request(e.0))?;
    }
    let as_of = data_as_of(&state, publication.agency.as_ref()).await?;
    let (tables, linked) =
        published_tables(&state, &publication, &params, params.from, params.to, true).await?;
    let disclosure_mode = publication.disclosure;
    tracing::info!(
        tables = tables.len(),
        disclosure = disclosure_mode.as_str(),
        "report computed"
    );
    match params.format {
        Format::Json => {
            let body = ReportBody {
                period: Period {
                    from: params.from.map(|d| d.to_string()),
                    to: params.to.map(|d| d.to_string()),
                },
                scope: scope_body(&publication, &params),
                count: count_code(params.count),
                disclosure: disclosure_mode.as_str(),
                threshold: publication.threshold,
                individuals_rule: "confirmed duplicate links only; probable duplicates not yet \
                                   confirmed count as separate individuals",
                linked_cases: (params.count == CountMode::Individuals)
                    .then_some(linked.count)
                    .flatten(),
                perturbation: publication.perturbation.as_ref().map(perturbation_body),
                data_as_of: as_of,
                tables,
            };
            Ok(Json(body).into_response())
        }
        Format::Csv | Format::Hxl => {
            let hxl = params.format == Format::Hxl;
            let table = tables.first().ok_or_else(ApiError::internal)?;
            let bytes = table_csv(table, hxl).map_err(|e| {
                tracing::error!(error = %e, "writing a report as CSV failed");
                ApiError::internal()
            })?;
            let name = format!("{}{}.csv", table.id, if hxl { ".hxl" } else { "" });
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(response)
        }
    }
}

/// `GET /v1/reports/series`: the tables month by month over whole months, each month
/// published as its own one-month report ([`crate::reports::series`]).
pub async fn report_series(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<SeriesBody>, ApiError> {
    let params = query::parse(&q, None).map_err(|e| ApiError::bad_request(e.0))?;
    if params.format != Format::Json {
        return Err(ApiError::bad_request(
            "a series is JSON only; CSV and HXL are one table of one period",
        ));
    }
    let months = series::months(params.from, params.to).map_err(|e| ApiError::bad_request(e.0))?;
    let publication = publication(&state, &principal, &params).await?;
    let mut out = Vec::with_capacity(months.len());
    for (first, last) in months {
        let (tables, _) = published_tables(
            &state,
            &publication,
            &params,
            Some(first),
            Some(last),
            false,
        )
        .await?;
        out.push(MonthBody {
            month: first.to_string()[..7].to_owned(),
            tables,
        });
    }
    tracing::info!(
        months = out.len(),
        disclosure = publication.disclosure.as_str(),
        "report series computed"
    );
    Ok(Json(SeriesBody {
        scope: scope_body(&publication, &params),
        count: count_code(params.count),
        disclosure: publication.disclosure.as_str(),
        threshold: publication.threshold,
        perturbation: publication.perturbation.as_ref().map(perturbation_body),
        months: out,
    }))
}

pub async fn options(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ReportOptionsBody>, ApiError> {
    let rights = principal.report_rights()?;
    let review_duplicates = principal.require_review().is_ok();
    if review_duplicates {
        state.duplicate_candidates.warm_up(&state.storage);
    }
    let storage = state.storage.clone();
    let only = rights.agency.clone();
    let everyone = blocking(move || storage.list_agencies(None)).await?;
    // Names of every agency, for reading referral partners; filters only the caller's scope.
    let agency_names = everyone
        .iter()
        .map(|a| (a.code.to_string(), a.name.clone()))
        .collect();
    let agencies: Vec<_> = everyone
        .into_iter()
        .filter(|a| only.as_ref().is_none_or(|o| *o == a.code))
        .collect();
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Ok(Json(ReportOptionsBody {
        params: strings(&query::PARAMS),
        tables: strings(&TABLE_IDS),
        count: strings(&CountMode::CODES),
        disclosure: strings(&Disclosure::CODES),
        formats: strings(&Format::CODES),
        regions: regions::all()
            .iter()
            .map(|r| RegionBody {
                id: r.id.to_owned(),
                name: r.name.to_owned(),
            })
            .collect(),
        agency_names,
        agencies: agencies.into_iter().map(|a| a.code.to_string()).collect(),
        threshold: state.report_threshold,
        scope_agency: rights.agency.map(|a| a.to_string()),
        exact_counts: rights.exact,
        default_disclosure: if rights.exact { "internal" } else { "public" }.to_owned(),
        review_duplicates,
    }))
}

const REVIEW_PARAMS: [&str; 5] = ["status", "agency", "min_score", "limit", "offset"];

fn candidate_body(c: Candidate) -> CandidateBody {
    let side = |s: duplicates::Side| PairSideBody {
        record_id: s.record.to_string(),
        agency: s.agency.to_string(),
        intake_date: s.intake_date.map(|d| d.to_string()),
    };
    CandidateBody {
        id: c.id(),
        score: c.score,
        features: c
            .features
            .as_ref()
            .and_then(|f| serde_json::to_value(f).ok()),
        status: c.status.as_str().to_owned(),
        decided_at: c.decided_at_ms.map(rfc3339),
        decided_by: c.decided_by.clone(),
        a: side(c.a),
        b: side(c.b),
    }
}

pub async fn list_duplicates(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<CandidateListBody>, ApiError> {
    principal.require_review()?;
    if q.keys().any(|k| !REVIEW_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown parameter; allowed: {}",
            REVIEW_PARAMS.join(", ")
        )));
    }
    let status = match q.get("status").map(String::as_str) {
        None | Some("pending") => Some(Status::Pending),
        Some("confirmed") => Some(Status::Confirmed),
        Some("rejected") => Some(Status::Rejected),
        Some("all") => None,
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "unknown status; allowed: {}",
                Status::CODES.join(", ")
            )))
        }
    };
    let agency = q.get("agency").cloned();
    let min_score = q
        .get("min_score")
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| ApiError::bad_request("min_score must be a number from 0 to 1"))
        })
        .transpose()?;
    let number = |name: &str, default: usize, max: usize| -> Result<usize, ApiError> {
        q.get(name)
            .map(|s| {
                s.parse::<usize>()
                    .ok()
                    .filter(|v| *v <= max)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("{name} must be a whole number up to {max}"))
                    })
            })
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let limit = number("limit", 100, MAX_REVIEW_PAGE)?;
    let offset = number("offset", 0, usize::MAX)?;
    let storage = state.storage.clone();
    let cache = state.duplicate_candidates.clone();
    let listing = blocking(move || cache.review_listing(&storage)).await?;
    let stats = listing.stats;
    let matching: Vec<Candidate> = listing
        .candidates
        .into_iter()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .filter(|c| {
            agency
                .as_deref()
                .is_none_or(|a| c.a.agency.as_str() == a || c.b.agency.as_str() == a)
        })
        .filter(|c| min_score.is_none_or(|m| c.score.is_some_and(|s| s >= m)))
        .collect();
    let total = matching.len();
    Ok(Json(CandidateListBody {
        total,
        offset,
        candidates: matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(candidate_body)
            .collect(),
        min_candidate_score: stats.min_listed_score,
        stats: ReviewStatsBody {
            blocks: stats.blocks,
            blocks_skipped: stats.blocks_skipped,
            comparisons: stats.comparisons,
        },
        scanned_at: Some(rfc3339(listing.scanned_at_ms)),
        refreshing: listing.refreshing,
        first_look: listing.first_look,
    }))
}

async fn decide(
    state: AppState,
    principal: Principal,
    pair: String,
    confirmed: bool,
) -> Result<Json<CandidateBody>, ApiError> {
    principal.require_review()?;
    let (a, b) = duplicates::parse_pair_id(&pair).ok_or_else(|| ApiError::not_found("pair"))?;
    let decision = DuplicateDecision {
        record_a: a,
        record_b: b,
        confirmed,
        decided_at_ms: state.time.now_ms(),
        decided_by: principal.actor(),
    };
    let storage = state.storage.clone();
    let stored = decision.clone();
    let summaries = blocking(move || {
        storage.decide_duplicate(&stored)?;
        storage.case_summaries(&[a, b])
    })
    .await?;
    tracing::info!(confirmed, "duplicate decision recorded");
    let side = |r: fieldcase_core::RecordId| {
        summaries
            .iter()
            .find(|s| s.record == r)
            .map(|s| PairSideBody {
                record_id: r.to_string(),
                agency: s.agency.to_string(),
                intake_date: s.intake_date.map(|d| d.to_string()),
            })
            .ok_or_else(|| ApiError::from(StorageError::NotFound("case")))
    };
    Ok(Json(CandidateBody {
        id: duplicates::pair_id(a, b),
        a: side(a)?,
        b: side(b)?,
        score: None,
        features: None,
        status: if confirmed { "confirmed" } else { "rejected" }.to_owned(),
        decided_at: Some(rfc3339(decision.decided_at_ms)),
        decided_by: Some(decision.decided_by),
    }))
}

pub async fn confirm_duplicate(
    State(state): State<AppState>,
    principal: Principal,
    Path(pair): Path<String>,
) -> Result<Json<CandidateBody>, ApiError> {
    decide(state, principal, pair, true).await
}

pub async fn reject_duplicate(
    State(state): State<AppState>,
    principal: Principal,
    Path(pair): Path<String>,
) -> Result<Json<CandidateBody>, ApiError> {
    decide(state, principal, pair, false).await
}

pub async fn create_api_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<NewApiTokenBody>,
) -> Result<(StatusCode, Json<ApiTokenBody>), ApiError> {
    let label = check_label("label", &body.label)?;
    let grants: BTreeSet<Grant> = body.grants.iter().copied().collect();
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let user = blocking(move || storage.user(&user_id, scope.as_ref()))
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if user.role == Role::SystemAdmin || !grants.is_empty() {
        admin.require_system()?;
    }
    if !grants.is_empty() && !matches!(user.role, Role::Analyst | Role::SystemAdmin) {
        return Err(ApiError::bad_request(
            "grants are for analysts and system admins (the central office)",
        ));
    }
    // A token an agency admin issues never reaches beyond that agency, whatever the role.
    let limited_to = admin.0.agency().cloned();
    let now = state.time.now_ms();
    let expires_at_ms = super::tokens::expiry(now, body.expires_days)?;
    let token = credentials::new_bearer_secret();
    let record = NewApiToken {
        token_hash: credentials::hash_secret(SecretKind::ApiToken, &token),
        user_id: user.id.clone(),
        limited_to: limited_to.clone(),
        grants: grants.clone(),
        label: label.clone(),
        created_at_ms: now,
        expires_at_ms,
    };
    let storage = state.storage.clone();
    let id = blocking(move || storage.create_api_token(&record)).await?;
    tracing::info!(token = %id, user = %user.id, agency = %user.agency, role = %user.role, "API token issued");
    Ok((
        StatusCode::CREATED,
        Json(ApiTokenBody {
            token,
            id,
            user_id: user.id,
            agency: user.agency.to_string(),
            role: user.role,
            limited_to: limited_to.map(|a| a.to_string()),
            grants: grants.into_iter().collect(),
            label,
            created_at: rfc3339(now),
            expires_at: rfc3339(expires_at_ms),
        }),
    ))
}

/// `POST /v1/admin/users/{user_id}/api-tokens/revoke`: every live API token of the user stops
/// working at once (a lost laptop, a person who left). A system admin may revoke anyone's; an
/// agency admin those of their agency's users.
pub async fn revoke_api_tokens(
    State(state): State<AppState>,
    admin: Admin,
    Path(user_id): Path<String>,
) -> Result<Json<RevokedApiTokensBody>, ApiError> {
    let storage = state.storage.clone();
    let scope = admin.0.agency().cloned();
    let now = state.time.now_ms();
    let user = blocking(move || {
        let Some(user) = storage.user(&user_id, scope.as_ref())? else {
            return Ok(None);
        };
        let revoked = storage.revoke_api_tokens(&user.id, now)?;
        Ok::<_, crate::storage::StorageError>(Some((user, revoked)))
    })
    .await?;
    let (user, revoked) = user.ok_or_else(|| ApiError::not_found("user"))?;
    tracing::info!(user = %user.id, agency = %user.agency, revoked, "API tokens revoked");
    Ok(Json(RevokedApiTokensBody {
        user_id: user.id,
        revoked,
    }))
}
