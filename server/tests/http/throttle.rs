//! Brute force of enrollment codes and bearer tokens: after a burst of failures a source is
//! answered 429 with Retry-After before its guesses are looked at; other sources are not
//! affected, and the source is heard again once the interval has passed.

use crate::common::*;
use fieldcase_server::http::throttle::{FAILURE_FORGIVEN_MS, MAX_AUTH_FAILURES};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// A client whose connections come from `127.0.0.<n>` (all of 127/8 is loopback on Linux).
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap()
}

async fn enroll_from(h: &Harness, client: &reqwest::Client, code: &str) -> reqwest::Response {
    client
        .post(h.url("/v1/enroll"))
        .json(&json!({"code": code, "device_label": "phone"}))
        .send()
        .await
        .unwrap()
}

async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, FAILURE_FORGIVEN_MS / 1000);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
}

#[tokio::test]
async fn guessing_enrollment_codes_is_throttled_per_source() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    let user = h.add_user("agency_a", "caseworker").await;
    let attackers_real_code = h.code_for(&user).await;
    let legit_code = h.code_for(&user).await;
    let attacker = client_from(2);
    let legit = client_from(3);

    for i in 0..MAX_AUTH_FAILURES {
        let guess = format!("ABCD-EFGH-{:04}", i);
        let response = enroll_from(&h, &attacker, &guess).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    // Blocked before the code is looked at: even a valid code gets 429 and stays unused.
    assert_throttled(enroll_from(&h, &attacker, "WXYZ-WXYZ-WXYZ").await).await;
    assert_throttled(enroll_from(&h, &attacker, &attackers_real_code).await).await;

    // Someone elsewhere is unaffected, and so are the attacker's other kinds of request.
    let response = enroll_from(&h, &legit, &legit_code).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = attacker
        .get(h.url("/v1/admin/agencies"))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // After the interval, one more try is heard (and a valid code works).
    h.time.advance_ms(FAILURE_FORGIVEN_MS);
    let response = enroll_from(&h, &attacker, &attackers_real_code).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn guessing_tokens_is_throttled_and_forwarded_for_is_no_way_around_it() {
    let h = Harness::start().await;
    let attacker = client_from(4);
    for i in 0..MAX_AUTH_FAILURES {
        // A different made-up client address on every request: not trusted, not looked at.
        let response = attacker
            .get(h.url("/v1/admin/users"))
            .bearer_auth(format!("guess-{i}"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    for path in ["/v1/admin/users", "/v1/reports/options", "/metrics"] {
        let response = attacker
            .get(h.url(path))
            .bearer_auth(&h.admin_token)
            .header("x-forwarded-for", "198.51.100.200")
            .send()
            .await
            .unwrap();
        assert_throttled(response).await;
    }
    let sync = attacker
        .post(h.url("/v1/sync"))
        .bearer_auth("a-device-credential-guess")
        .send()
        .await
        .unwrap();
    assert_throttled(sync).await;
    let reply = h.admin(Method::GET, "/v1/admin/users", None).await;
    assert_eq!(reply.status, StatusCode::OK, "other sources are heard");
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_per_forwarded_client() {
    let proxy = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5));
    let h = Harness::start_with(|config| config.trusted_proxies = vec![proxy]).await;
    let via_proxy = client_from(5);
    let from = |client: &str| {
        via_proxy
            .get(h.url("/v1/admin/agencies"))
            .header("x-forwarded-for", client.to_owned())
    };
    for _ in 0..MAX_AUTH_FAILURES {
        let response = from("203.0.113.7")
            .bearer_auth("guess")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_throttled(
        from("203.0.113.7")
            .bearer_auth(&h.admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let other = from("203.0.113.8")
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another client of the proxy"
    );
}
