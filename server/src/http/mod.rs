//! The HTTP API: routes, shared state and the layers every request passes through.
//!
//! Routes are registered through [`Routes`], which records each `(method, path)` it adds, so
//! [`route_table`] is exactly what the router serves; a test checks it against the OpenAPI
//! document (`openapi.json`).
//!
//! Every error reply, including the router's own (unknown route, wrong method, panics, body
//! limits), is an `ErrorBody` in JSON ([`middleware::observe`] rewrites any that is not).

pub mod admin;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod body;
pub mod case_reviews;
pub mod dashboard;
pub mod enroll;
pub mod forms;
pub mod meta;
pub mod middleware;
pub mod principal;
pub mod referrals;
pub mod reports;
pub mod retention;
pub mod sync;
pub mod throttle;
pub mod tokens;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::storage::Storage;
use crate::time::TimeSource;
use axum::http::Method;
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub metrics: Arc<Metrics>,
    pub time: Arc<dyn TimeSource>,
    /// Default validity of enrollment codes, in hours.
    pub enrollment_code_hours: u32,
    /// Bounds concurrent sync requests ([`crate::config::MAX_CONCURRENT_SYNCS`]).
    pub sync_slots: Arc<Semaphore>,
    /// Suppression threshold of public reports ([`crate::config::DEFAULT_REPORT_THRESHOLD`]).
    pub report_threshold: u64,
    /// The last duplicate-candidate scan, reused while the log has not grown.
    pub duplicate_candidates: Arc<crate::reports::duplicates::CandidateCache>,
    /// Published reports, reused while the log and the confirmed links stay the same.
    pub report_cache: Arc<crate::reports::cache::ReportCache>,
    /// Where first start writes the system-admin token (`<data-dir>/admin.token`): rotating
    /// the token it holds deletes it.
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Hash of the token that may read `/metrics` besides system admins, when configured.
    pub metrics_token: Option<crate::credentials::SecretHash>,
    /// Authentication failures per source ([`throttle`]).
    pub throttle: Arc<throttle::Throttle>,
    /// Deadline of one request ([`crate::config::REQUEST_TIMEOUT`]).
    pub request_timeout: std::time::Duration,
    /// The served TLS certificate, when the server terminates TLS itself: its pin (and the
    /// backup pins) go out with enrollment codes.
    pub certificate: Option<Arc<crate::tls::ReloadingCertificate>>,
    pub tls_backup_pins: Vec<fieldcase_core::sync::Pin>,
    /// Device credentials' lifetime and rotation ([`crate::service::credentials`]).
    pub credential_policy: crate::service::credentials::CredentialPolicy,
}

impl AppState {
    pub fn new(
        storage: Arc<dyn Storage>,
        time: Arc<dyn TimeSource>,
        enrollment_code_hours: u32,
    ) -> Self {
        AppState {
            storage,
            metrics: Arc::new(Metrics::new()),
            time,
            enrollment_code_hours,
            sync_slots: Arc::new(Semaphore::new(crate::config::MAX_CONCURRENT_SYNCS)),
            report_threshold: crate::config::DEFAULT_REPORT_THRESHOLD,
            duplicate_candidates: Arc::default(),
            report_cache: Arc::default(),
            admin_token_file: None,
            metrics_token: None,
            throttle: Arc::default(),
            request_timeout: crate::config::REQUEST_TIMEOUT,
            certificate: None,
            tls_backup_pins: Vec::new(),
            credential_policy: Default::default(),
        }
    }
}

/// Runs blocking storage work off the async threads; a panic there becomes a 500.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => {
            tracing::error!(panicked = e.is_panic(), "blocking task failed");
            Err(ApiError::internal())
        }
    }
}

/// A router that remembers what it registered.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self.table.push((method, path));
        self
    }
}

fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/healthz", get(meta::healthz))
        .add(Method::GET, "/metrics", get(meta::metrics))
        .add(Method::GET, "/openapi.json", get(meta::openapi))
        .add(Method::GET, "/dashboard", get(dashboard::index))
        .add(Method::GET, "/dashboard/app.js", get(dashboard::script))
        .add(Method::GET, "/dashboard/app.css", get(dashboard::style))
        .add(Method::GET, "/dashboard/vendor.js", get(dashboard::vendor))
        .add(Method::GET, "/dashboard/parts/{name}", get(dashboard::part))
        .add(Method::GET, "/dashboard/world.json", get(dashboard::world))
        .add(
            Method::GET,
            "/dashboard/labels.json",
            get(dashboard::labels),
        )
        .add(Method::POST, "/v1/sync", post(sync::sync))
        .add(Method::POST, "/v1/enroll", post(enroll::enroll))
        .add(
            Method::GET,
            "/v1/referrals/{referral_id}/timeline",
            get(referrals::timeline),
        )
        .add(
            Method::PUT,
            "/v1/attachments/{attachment_id}",
            put(attachments::declare),
        )
        .add(
            Method::GET,
            "/v1/attachments/{attachment_id}",
            get(attachments::info),
        )
        .add(
            Method::GET,
            "/v1/attachments/{attachment_id}/upload",
            get(attachments::upload_state),
        )
        .add(
            Method::PUT,
            "/v1/attachments/{attachment_id}/chunks/{index}",
            put(attachments::put_chunk),
        )
        .add(
            Method::GET,
            "/v1/attachments/{attachment_id}/chunks/{index}",
            get(attachments::get_chunk),
        )
        .add(
            Method::GET,
            "/v1/cases/{case_id}/attachments",
            get(attachments::of_case),
        )
        .add(Method::GET, "/v1/admin/agencies", get(admin::list_agencies))
        .add(
            Method::POST,
            "/v1/admin/agencies",
            post(admin::create_agency),
        )
        .add(
            Method::PUT,
            "/v1/admin/agencies/{code}/device-policy",
            put(admin::set_device_policy),
        )
        .add(Method::GET, "/v1/admin/users", get(admin::list_users))
        .add(Method::POST, "/v1/admin/users", post(admin::create_user))
        .add(
            Method::POST,
            "/v1/admin/users/{user_id}/enrollment-codes",
            post(admin::create_enrollment_code),
        )
        .add(Method::GET, "/v1/admin/devices", get(admin::list_devices))
        .add(
            Method::POST,
            "/v1/admin/devices/{device_id}/revoke",
            post(admin::revoke_device),
        )
        .add(
            Method::POST,
            "/v1/admin/devices/{device_id}/renew",
            post(admin::renew_device),
        )
        .add(
            Method::POST,
            "/v1/admin/tokens",
            post(admin::create_admin_token),
        )
        .add(
            Method::GET,
            "/v1/admin/tokens",
            get(tokens::list_admin_tokens),
        )
        .add(
            Method::POST,
            "/v1/admin/tokens/rotate",
            post(tokens::rotate_admin_token),
        )
        .add(
            Method::POST,
            "/v1/admin/tokens/{token_id}/revoke",
            post(tokens::revoke_admin_token),
        )
        .add(
            Method::GET,
            "/v1/admin/api-tokens",
            get(tokens::list_api_tokens),
        )
        .add(
            Method::POST,
            "/v1/admin/api-tokens/{token_id}/revoke",
            post(tokens::revoke_api_token),
        )
        .add(
            Method::GET,
            "/v1/admin/enrollment-codes",
            get(tokens::list_enrollment_codes),
        )
        .add(
            Method::POST,
            "/v1/admin/enrollment-codes/{code_id}/revoke",
            post(tokens::revoke_enrollment_code),
        )
        .add(
            Method::GET,
            "/v1/admin/agencies/{code}/retention",
            get(retention::show),
        )
        .add(
            Method::PUT,
            "/v1/admin/agencies/{code}/retention",
            axum::routing::put(retention::set),
        )
        .add(
            Method::POST,
            "/v1/admin/retention/purge",
            post(retention::purge_now),
        )
        .add(Method::GET, "/v1/admin/audit", get(audit::trail))
        .add(
            Method::GET,
            "/v1/admin/audit/checkpoints",
            get(audit::list_checkpoints),
        )
        .add(
            Method::POST,
            "/v1/admin/audit/checkpoints",
            post(audit::create_checkpoint),
        )
        .add(Method::GET, "/v1/admin/forms", get(forms::list))
        .add(Method::POST, "/v1/admin/forms", post(forms::publish))
        .add(
            Method::POST,
            "/v1/admin/users/{user_id}/api-tokens",
            post(reports::create_api_token),
        )
        .add(
            Method::POST,
            "/v1/admin/users/{user_id}/api-tokens/revoke",
            post(reports::revoke_api_tokens),
        )
        .add(Method::GET, "/v1/reports", get(reports::report_all))
        .add(Method::GET, "/v1/reports/options", get(reports::options))
        .add(
            Method::GET,
            "/v1/reports/series",
            get(reports::report_series),
        )
        .add(Method::GET, "/v1/reports/{table}", get(reports::report_one))
        .add(Method::GET, "/v1/duplicates", get(reports::list_duplicates))
        .add(Method::GET, "/v1/case-reviews", get(case_reviews::list))
        .add(
            Method::POST,
            "/v1/duplicates/{pair_id}/confirm",
            post(reports::confirm_duplicate),
        )
        .add(
            Method::POST,
            "/v1/duplicates/{pair_id}/reject",
            post(reports::reject_duplicate),
        )
}

/// Every `(method, path)` the router serves, paths in axum/OpenAPI template form.
pub fn route_table() -> Vec<(Method, &'static str)> {
    routes().table
}

/// The whole API with its layers.
pub fn router(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::extract::Request| {
            // The route template, never the raw URI: paths carry ids, queries carry filters.
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_else(|| "unmatched".to_owned());
            tracing::info_span!("request", method = %request.method(), route = %route)
        })
        .on_request(())
        .on_response(
            DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Millis),
        );
    routes()
        .router
        .fallback(|| async { ApiError::for_status(axum::http::StatusCode::NOT_FOUND) })
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        // A backstop only: each route reads its body with its own, smaller limit and answers
        // with a precise error; this keeps any future route from buffering without bound.
        .layer(RequestBodyLimitLayer::new(
            fieldcase_core::protocol::MAX_COMPRESSED_BODY_BYTES,
        ))
        // Slow clients: a total deadline per request (its body is read inside the handler, so
        // a trickled upload is cut off too) and a shorter one for a body that stops coming.
        .layer(RequestBodyTimeoutLayer::new(
            crate::config::BODY_IDLE_TIMEOUT.min(state.request_timeout),
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .layer(trace)
        // Before any route looks at a secret: a source that failed too often is refused.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}
