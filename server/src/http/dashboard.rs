//! The central office's dashboard: one static page, its script (`app.js` and the parts under
//! `dashboard/parts/`) and its style sheet, the vendored chart and map code
//! (`dashboard/vendor.js`, built from npm packages pinned in
//! `dashboard/vendor/package-lock.json`), the Natural Earth country boundaries
//! (`dashboard/world.json`) and the names of codes (`/dashboard/labels.json`, from the forms),
//! all served from the binary (no CDN, no tile server — the office may be as offline as the
//! field).
//!
//! The page holds no data and no secret. It asks the analyst for their API token, keeps it in
//! the tab's `sessionStorage` (gone when the tab closes) and calls the same report API the
//! command line uses, so everything it shows passes the same role and disclosure checks.
//! A strict Content-Security-Policy allows only this origin's script, style and API.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("../../dashboard/index.html");
const APP_JS: &str = include_str!("../../dashboard/app.js");
const APP_CSS: &str = include_str!("../../dashboard/app.css");
const VENDOR_JS: &str = include_str!("../../dashboard/vendor.js");
/// The page's script beyond `app.js`, by name (`/dashboard/parts/{name}`).
const PARTS: [(&str, &str); 4] = [
    ("words.js", include_str!("../../dashboard/parts/words.js")),
    ("charts.js", include_str!("../../dashboard/parts/charts.js")),
    ("map.js", include_str!("../../dashboard/parts/map.js")),
    (
        "figures.js",
        include_str!("../../dashboard/parts/figures.js"),
    ),
];
const WORLD_JSON: &str = include_str!("../../dashboard/world.json");

/// Only this origin; no inline script or style, no framing, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, body).into_response()
}

pub async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}

pub async fn vendor() -> Response {
    asset(VENDOR_JS, "text/javascript; charset=utf-8")
}

pub async fn world() -> Response {
    asset(WORLD_JSON, "application/json")
}

pub async fn labels() -> Response {
    asset(
        crate::reports::labels::labels().to_string(),
        "application/json",
    )
}

pub async fn part(Path(name): Path<String>) -> Response {
    match PARTS.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => asset(*body, "text/javascript; charset=utf-8"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
