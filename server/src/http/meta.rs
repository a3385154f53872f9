//! `GET /healthz`, `GET /metrics`, `GET /openapi.json`: what operators and tools read.
//!
//! `/metrics` needs a token: a system-admin token, or the metrics token configured at serve
//! time (`--metrics-token-file`, for a scraper that should read nothing else). Its figures are
//! network-wide (device counts, traffic by route), so an agency-admin token gets 403.

use super::{blocking, AppState};
use crate::api::HealthBody;
use crate::credentials::{hash_secret, SecretKind};
use crate::error::ApiError;
use crate::storage::AdminScope;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The OpenAPI 3.1 document of this API, written by hand.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
        protocol: fieldcase_core::protocol::PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Refuses anyone but a system admin or the holder of the metrics token.
async fn check_metrics_access(state: &AppState, parts: &Parts) -> Result<(), ApiError> {
    let secret = super::auth::bearer(parts).ok_or_else(|| {
        ApiError::unauthorized(
            "send a system-admin token or the metrics token as Authorization: Bearer <token>",
        )
    })?;
    let hash = hash_secret(SecretKind::AdminToken, secret);
    if state.metrics_token == Some(hash) {
        return Ok(());
    }
    let storage = state.storage.clone();
    let now = state.time.now_ms();
    match blocking(move || storage.admin_by_token(&hash, now)).await? {
        Some(auth) if auth.scope == AdminScope::System => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "metrics cover the whole network: a system-admin token or the metrics token",
        )),
        None => {
            super::auth::refuse_api_token(state, secret, "metrics need an admin token").await?;
            Err(ApiError::unauthorized("unknown, expired or revoked token"))
        }
    }
}

pub async fn metrics(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    check_metrics_access(&state, &parts).await?;
    let storage = state.storage.clone();
    let counts = blocking(move || storage.device_counts()).await?;
    state.metrics.set_devices(counts);
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

pub async fn openapi() -> Response {
    let mut response = OPENAPI_JSON.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    out.insert((method.clone(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let registered: BTreeSet<(String, String)> = crate::http::route_table()
            .into_iter()
            .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let missing: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            missing.is_empty(),
            "openapi.json documents routes that do not exist: {missing:?}"
        );
    }

    /// Schemathesis found every authenticated route answering an undocumented 429 once the
    /// loopback address had used up its failed logins (scripts/api-fuzz.sh).
    #[test]
    fn every_throttled_route_documents_its_429() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        let mut undocumented = Vec::new();
        for (method, path) in crate::http::route_table() {
            let responses = &doc["paths"][path][method.as_str().to_ascii_lowercase()]["responses"];
            let throttled = crate::http::throttle::Class::of(path).is_some();
            if throttled != responses.get("429").is_some() {
                undocumented.push(format!("{method} {path}"));
            }
        }
        assert!(
            undocumented.is_empty(),
            "429 documented exactly on throttled routes, not on: {undocumented:?}"
        );
        let too_many = &doc["components"]["responses"]["TooManyRequests"];
        assert!(too_many["headers"]["Retry-After"].is_object());
    }

    /// Schemathesis found the labels the document allowed mostly refused (empty, blank, control
    /// characters): the document's `Label` now says what `check_label` accepts. Whatever the
    /// pattern accepts, the server does; without surrounding spaces, exactly that.
    #[test]
    fn the_documented_label_is_what_the_server_accepts() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        let label = &doc["components"]["schemas"]["Label"];
        let pattern = regex::Regex::new(label["pattern"].as_str().unwrap()).unwrap();
        let max = label["maxLength"].as_u64().unwrap() as usize;
        let min = label["minLength"].as_u64().unwrap() as usize;
        let documented = |s: &str| pattern.is_match(s) && (min..=max).contains(&s.chars().count());
        let long = "x".repeat(100);
        let too_long = "x".repeat(101);
        let spaced = format!(" {long} ");
        let samples = [
            "",
            " ",
            "\t",
            "a",
            "IOM Uganda",
            " a ",
            "a\tb",
            "a\nb",
            "a\u{7f}",
            "a\u{85}",
            "a\u{9f}b",
            "a\u{a0}b",
            "\u{a0}",
            "\u{3000}",
            "Ольга",
            "名前",
            "x\u{200b}",
            &long,
            &too_long,
            &spaced,
        ];
        for sample in samples {
            let server = crate::http::enroll::check_label("label", sample).is_ok();
            if documented(sample) {
                assert!(server, "documented but refused: {sample:?}");
            }
            if sample.trim() == sample {
                assert_eq!(documented(sample), server, "{sample:?}");
            }
        }
    }

    /// Schemathesis found the admin routes answering an API token with an undocumented 403
    /// (an API token is known, so it is refused rather than unknown: `super::auth`).
    #[test]
    fn every_admin_route_documents_the_403_an_api_token_gets() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        let mut undocumented = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let schemes: Vec<&str> = operation["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_object())
                    .flat_map(|s| s.keys().map(String::as_str))
                    .collect();
                let admin_only = schemes.contains(&"adminToken") && !schemes.contains(&"apiToken");
                if admin_only && operation["responses"].get("403").is_none() {
                    undocumented.push(format!("{method} {path}"));
                }
            }
        }
        assert!(
            undocumented.is_empty(),
            "admin routes without a documented 403: {undocumented:?}"
        );
    }
}
