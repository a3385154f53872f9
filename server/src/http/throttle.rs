//! Throttling of authentication failures: brute force of admin tokens, API tokens, device
//! credentials and enrollment codes.
//!
//! Every answer `401` on a throttled route costs the source a failure; a source that has
//! used up [`MAX_AUTH_FAILURES`] is answered `429` with `Retry-After` *before* its request is
//! looked at, so a correct guess among blocked ones gets no further than a wrong one. One
//! failure is forgiven every [`FAILURE_FORGIVEN_MS`] (a leaky bucket): a person who mistypes
//! a code a few times never notices, a guesser is held to one try per interval. Successful
//! requests cost nothing, so a busy office behind one address is not slowed down.
//!
//! Sources are counted per kind of secret ([`Class`]) and per address: an IPv4 address, or
//! an IPv6 /64 (one subscriber's whole allocation, which an attacker could otherwise walk).
//! Behind a reverse proxy every request comes from the proxy: requests from a configured
//! trusted proxy are counted by the address it appends to `X-Forwarded-For`; the header is
//! ignored from anyone else, so a client cannot pick its own source.
//!
//! Not per presented credential: admin, API and device secrets are 256-bit and enrollment
//! codes about 59 bits, so what bounds guessing is the rate per source, not which secret a
//! guess aims at. A network-wide budget would let one attacker lock everyone out.
//!
//! Counting is in memory, per server process: a restart forgives everyone, and several
//! processes behind one address each count their own share. The table is bounded
//! ([`MAX_TRACKED_SOURCES`]); when full of sources still in debt, new sources share one
//! bucket per class, which throttles a spray of addresses together rather than forgetting it.
//!
//! This is written here rather than with a rate-limiting crate (`governor`, `tower_governor`):
//! those count every request and take a cell before it is handled, while this control must
//! block *before* handling but count only *failures*, which needs a look at the bucket without
//! taking from it; the whole algorithm is the few lines of [`Throttle::check`] and
//! [`Throttle::fail`].

use super::AppState;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fieldcase_core::protocol::ErrorCode;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// Failures a source may make in a row before it is blocked: enough for a person to mistype
/// an enrollment code or paste a wrong token many times over, far too few to guess anything.
pub const MAX_AUTH_FAILURES: u64 = 20;

/// One failure is forgiven this often: after a burst a guesser gets one try per 30 seconds,
/// about 2,900 a day per source, against secrets of 59 bits (codes) or 256 bits (tokens).
pub const FAILURE_FORGIVEN_MS: u64 = 30_000;

/// Sources remembered at once. Each entry is a few dozen bytes, so the table stays within a
/// few megabytes however many addresses an attacker sprays.
pub const MAX_TRACKED_SOURCES: usize = 100_000;

/// The kinds of secret counted apart, so failing at one does not block the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `POST /v1/enroll`: enrollment codes.
    Enrollment,
    /// Every other authenticated route: admin tokens, API tokens, device credentials.
    Bearer,
}

impl Class {
    /// The class of a path, or `None` for routes that take no secret.
    pub fn of(path: &str) -> Option<Class> {
        match path {
            "/v1/enroll" => Some(Class::Enrollment),
            "/healthz" | "/openapi.json" => None,
            p if p == "/dashboard" || p.starts_with("/dashboard/") => None,
            _ => Some(Class::Bearer),
        }
    }
}

/// Where failures are counted: an address (IPv6 cut to its /64), or the shared bucket of
/// sources that found the table full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    Addr(IpAddr),
    Overflow,
}

fn source_of(ip: IpAddr) -> Source {
    match ip {
        IpAddr::V4(v4) => Source::Addr(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Source::Addr(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Source::Addr(IpAddr::V6(bits.into()))
            }
        },
    }
}

/// The failure counts, and which peers are trusted proxies.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Per (class, source): the time at which its debt is paid off (a leaky bucket's
    /// theoretical arrival time). Debt = that time − now; each failure adds
    /// [`FAILURE_FORGIVEN_MS`].
    debts: Mutex<HashMap<(Class, Source), u64>>,
    trusted_proxies: Vec<IpAddr>,
}

/// The most debt a source may carry and still be heard.
const MAX_DEBT_MS: u64 = (MAX_AUTH_FAILURES - 1) * FAILURE_FORGIVEN_MS;

impl Throttle {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Throttle {
            debts: Mutex::default(),
            trusted_proxies,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Class, Source), u64>> {
        self.debts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source a request is counted under: its peer, or the client a trusted proxy names.
    fn source(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Source {
        let Some(peer) = peer else {
            // No peer address (an embedder serving without connect info): one shared bucket,
            // which errs on the side of throttling.
            return Source::Overflow;
        };
        if !self.trusted_proxies.contains(&peer) {
            return source_of(peer);
        }
        // The last address a trusted proxy did not append itself is the client it saw.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        forwarded
            .iter()
            .rev()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .find(|a| !self.trusted_proxies.contains(a))
            .map(source_of)
            .unwrap_or_else(|| source_of(peer))
    }

    /// `Some(ms)` to wait when `source` may not be heard now.
    fn check(&self, class: Class, source: Source, now_ms: u64) -> Option<u64> {
        let debts = self.lock();
        let paid_at = match debts.get(&(class, source)) {
            Some(paid_at) => *paid_at,
            // Not tracked in a full table: its failures go to the shared bucket, so does this.
            None if debts.len() >= MAX_TRACKED_SOURCES => *debts.get(&(class, Source::Overflow))?,
            None => return None,
        };
        let debt = paid_at.saturating_sub(now_ms);
        (debt > MAX_DEBT_MS).then(|| debt - MAX_DEBT_MS)
    }

    /// Counts one failure of `source`.
    fn fail(&self, class: Class, source: Source, now_ms: u64) {
        let mut debts = self.lock();
        let key = if debts.len() >= MAX_TRACKED_SOURCES && !debts.contains_key(&(class, source)) {
            debts.retain(|_, paid_at| *paid_at > now_ms);
            if debts.len() >= MAX_TRACKED_SOURCES {
                (class, Source::Overflow)
            } else {
                (class, source)
            }
        } else {
            (class, source)
        };
        let paid_at = debts.entry(key).or_insert(now_ms);
        *paid_at = (*paid_at).max(now_ms) + FAILURE_FORGIVEN_MS;
    }
}

/// The layer: refuses a blocked source with 429, counts a 401 as a failure.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(class) = Class::of(request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let source = state.throttle.source(peer, request.headers());
    if let Some(wait_ms) = state.throttle.check(class, source, state.time.now_ms()) {
        tracing::warn!(class = ?class, "authentication failures throttled");
        return too_many(wait_ms);
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.throttle.fail(class, source, state.time.now_ms());
    }
    response
}

fn too_many(wait_ms: u64) -> Response {
    let seconds = wait_ms.div_ceil(1000).max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyRequests,
        format!("too many failed attempts to authenticate from this address; retry in {seconds} s"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    #[test]
    fn a_burst_is_heard_then_one_try_per_interval() {
        let t = Throttle::default();
        let s = source_of("192.0.2.1".parse().unwrap());
        for _ in 0..MAX_AUTH_FAILURES {
            assert_eq!(t.check(Class::Enrollment, s, NOW), None);
            t.fail(Class::Enrollment, s, NOW);
        }
        assert_eq!(
            t.check(Class::Enrollment, s, NOW),
            Some(FAILURE_FORGIVEN_MS)
        );
        assert_eq!(t.check(Class::Bearer, s, NOW), None, "classes apart");
        let later = NOW + FAILURE_FORGIVEN_MS;
        assert_eq!(t.check(Class::Enrollment, s, later), None);
        t.fail(Class::Enrollment, s, later);
        assert!(t.check(Class::Enrollment, s, later).is_some());
        let idle = NOW + MAX_AUTH_FAILURES * FAILURE_FORGIVEN_MS * 2;
        assert_eq!(t.check(Class::Enrollment, s, idle), None);
    }

    #[test]
    fn a_full_table_puts_new_sources_in_one_shared_bucket() {
        let t = Throttle::default();
        for n in 0..MAX_TRACKED_SOURCES as u32 {
            t.fail(Class::Bearer, source_of(IpAddr::V4(n.into())), NOW);
        }
        let late = |n: u32| source_of(IpAddr::V4((u32::MAX - n).into()));
        for n in 0..MAX_AUTH_FAILURES as u32 {
            assert_eq!(t.check(Class::Bearer, late(n), NOW), None);
            t.fail(Class::Bearer, late(n), NOW);
        }
        assert_eq!(t.lock().len(), MAX_TRACKED_SOURCES + 1, "bounded");
        assert!(
            t.check(Class::Bearer, late(MAX_AUTH_FAILURES as u32), NOW)
                .is_some(),
            "a spray of new addresses is throttled together"
        );
        assert_eq!(
            t.check(Class::Bearer, source_of(IpAddr::V4(7.into())), NOW),
            None,
            "a tracked source keeps its own count"
        );
        // Once the debts are paid, the table makes room again.
        let later = NOW + MAX_AUTH_FAILURES * FAILURE_FORGIVEN_MS;
        t.fail(Class::Bearer, late(999), later);
        assert_eq!(t.lock().len(), 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a = source_of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = source_of("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = source_of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            source_of("::ffff:192.0.2.1".parse().unwrap()),
            source_of("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Throttle::new(vec![proxy]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.0.0.1"),
        );
        assert_eq!(
            t.source(Some(proxy), &headers),
            source_of("198.51.100.7".parse().unwrap()),
            "the last address the proxy did not add itself"
        );
        let stranger: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(t.source(Some(stranger), &headers), source_of(stranger));
        assert_eq!(t.source(Some(proxy), &HeaderMap::new()), source_of(proxy));
    }
}
