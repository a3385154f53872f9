//! Admin authentication, revocation, and the operator endpoints.

use crate::common::*;
use fieldcase_core::protocol::{ErrorCode, SyncRequest, PROTOCOL_VERSION};
use fieldcase_core::RecordId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn admin_routes_refuse_missing_tokens_and_device_credentials() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let admin_routes: Vec<_> = fieldcase_server::http::route_table()
        .into_iter()
        .filter(|(_, path)| path.starts_with("/v1/admin"))
        .collect();
    assert!(admin_routes.len() >= 8);
    for (method, template) in admin_routes {
        let path = template
            .replace("{user_id}", &d.user_id)
            .replace("{device_id}", &d.id.to_string());
        let body = (method == Method::POST).then(|| json!({}));
        for token in [None, Some(d.credential.as_str()), Some("not-a-token")] {
            let reply = h
                .json_call(method.clone(), &path, token, body.clone())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert_eq!(reply.error().error, ErrorCode::Unauthorized);
            // Each failure counts against this address (`http::throttle`); let it be forgiven
            // so the matrix tests authentication, not the throttle.
            h.time
                .advance_ms(fieldcase_server::http::throttle::FAILURE_FORGIVEN_MS);
        }
    }
    // The device was not revoked by any of that, and an admin token is no device credential.
    assert_eq!(h.sync(&d, vec![], None, None).await.acked_through, 0);
    let request = SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops: vec![],
        cursor: None,
        pull_limit: None,
        commands: vec![],
        handoff: None,
    };
    for token in [h.admin_token.as_str(), "not-a-token"] {
        let reply = h.sync_raw(token, &request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        reply.error();
    }
}

#[tokio::test]
async fn a_revoked_device_is_told_to_wipe_and_can_push_nothing() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let other = h.device("iom_uga").await;
    let case = RecordId::new();
    h.sync(
        &d,
        vec![case_op(&d, 1, case, &[("sex", json!("female"))])],
        None,
        None,
    )
    .await;

    let path = format!("/v1/admin/devices/{}/revoke", d.id);
    let revoked = h.admin(Method::POST, &path, None).await;
    assert_eq!(revoked.status, StatusCode::OK);
    let revoked_at = revoked.json()["revoked_at"].clone();
    assert!(revoked_at.is_string());
    let again = h.admin(Method::POST, &path, None).await;
    assert_eq!(
        again.json()["revoked_at"],
        revoked_at,
        "revoking twice changes nothing"
    );

    let reply = h
        .sync_raw(
            &d.credential,
            &SyncRequest {
                store: None,
                protocol: PROTOCOL_VERSION,
                ops: vec![case_op(&d, 2, case, &[("status", json!("closed"))])],
                cursor: None,
                pull_limit: None,
                commands: vec![],
                handoff: None,
            },
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let error = reply.error();
    assert_eq!(error.error, ErrorCode::DeviceRevoked);
    assert!(error.message.contains("wipe"), "{}", error.message);
    assert_eq!(
        h.pull_all(&other).await.len(),
        1,
        "nothing was applied after revocation"
    );

    // The same user can enroll a new phone.
    let code = h.code_for(&d.user_id).await;
    assert_eq!(h.enroll(&code).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn agencies_are_validated_and_unique() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let dup = h
        .admin(
            Method::POST,
            "/v1/admin/agencies",
            Some(json!({"code": "iom_uga", "name": "x"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.error().error, ErrorCode::Conflict);
    let bad = h
        .admin(
            Method::POST,
            "/v1/admin/agencies",
            Some(json!({"code": "IOM-UGA", "name": "x"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let listed = h
        .admin(Method::GET, "/v1/admin/agencies", None)
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Agency iom_uga");
}

#[tokio::test]
async fn operator_endpoints_answer() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let a = h.device("iom_uga").await;
    let b = h.device("iom_uga").await;
    let case = RecordId::new();
    h.sync(
        &a,
        vec![case_op(&a, 1, case, &[("sex", json!("male"))])],
        None,
        None,
    )
    .await;
    h.pull_all(&b).await;
    h.admin(
        Method::POST,
        &format!("/v1/admin/devices/{}/revoke", b.id),
        None,
    )
    .await;

    let health = h.send(Method::GET, "/healthz", None, None, vec![]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");

    let metrics = h
        .send(Method::GET, "/metrics", Some(&h.admin_token), None, vec![])
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.body).unwrap();
    for expected in [
        "fieldcase_sync_ops_pushed_total{outcome=\"applied\"} 1",
        "fieldcase_sync_ops_pulled_total 1",
        "fieldcase_devices{state=\"active\"} 1",
        "fieldcase_devices{state=\"revoked\"} 1",
        "route=\"/v1/admin/devices/{device_id}/revoke\"",
        "fieldcase_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(expected), "metrics lack {expected}:\n{text}");
    }
    assert!(!text.contains(&b.id.to_string()), "ids never become labels");

    let openapi = h
        .send(Method::GET, "/openapi.json", None, None, vec![])
        .await;
    assert_eq!(openapi.status, StatusCode::OK);
    let doc = openapi.json();
    // Every documented operation exists on the server (unauthenticated: never 404/405).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let concrete = path
                .replace("{user_id}", "x")
                .replace("{device_id}", "x")
                .replace("{name}", "words.js");
            let reply = h.send(method.clone(), &concrete, None, None, vec![]).await;
            assert!(
                reply.status != StatusCode::NOT_FOUND
                    && reply.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} answered {}",
                reply.status
            );
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn secrets_on_disk_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start().await;
    let database_files: &[&str] = match crate::BACKEND {
        Backend::Sqlite => &["fieldcase.db", "fieldcase.db-wal"],
        Backend::Postgres => &[],
    };
    for name in ["admin.token", "server.key"].iter().chain(database_files) {
        let mode = std::fs::metadata(h.server.data_dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

/// The attack: anyone who reaches the port reads the network's traffic and device counts.
/// `/metrics` answers only a system-admin token or the metrics token set at serve time.
#[tokio::test]
async fn metrics_need_a_system_admin_or_the_metrics_token() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_token = "m".repeat(fieldcase_server::config::MIN_METRICS_TOKEN_CHARS);
    let mut config = fieldcase_server::ServerConfig::new(dir.path().join("data"));
    config.metrics_token = Some(format!("{metrics_token}\n"));
    let server = fieldcase_server::Server::spawn(config).await.unwrap();
    let system = server.admin_token().unwrap();
    let http = reqwest::Client::new();
    let admin =
        fieldcase_server::admin_client::AdminClient::new(&server.base_url, system.clone()).unwrap();
    admin.create_agency("agency_a", "A").await.unwrap();
    let agency_admin: Value = serde_json::from_str(
        &http
            .post(format!("{}/v1/admin/tokens", server.base_url))
            .bearer_auth(&system)
            .json(&json!({"agency": "agency_a", "label": "A"}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let agency_admin = agency_admin["token"].as_str().unwrap().to_owned();
    let get = |token: Option<String>| {
        let mut request = http.get(format!("{}/metrics", server.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    for (token, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("not-a-token".to_owned()), StatusCode::UNAUTHORIZED),
        (Some(agency_admin.clone()), StatusCode::FORBIDDEN),
        (Some(system), StatusCode::OK),
        (Some(metrics_token.clone()), StatusCode::OK),
    ] {
        let (status, body) = get(token).await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(
            body.contains("fieldcase_devices"),
            expected == StatusCode::OK,
            "figures only for the allowed"
        );
    }
    // The metrics token opens nothing else.
    let reply = http
        .get(format!("{}/v1/admin/agencies", server.base_url))
        .bearer_auth(&metrics_token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await.unwrap();

    // A short metrics token is refused at start.
    let mut config = fieldcase_server::ServerConfig::new(dir.path().join("other"));
    config.metrics_token = Some("short".into());
    assert!(matches!(
        fieldcase_server::Server::spawn(config).await,
        Err(fieldcase_server::StartError::MetricsToken)
    ));
}
