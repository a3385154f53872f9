//! Bodies that are malformed, oversized, truncated, wrongly compressed or wrongly typed get a
//! 4xx with a JSON `ErrorBody` — never a 5xx, never a hang, never the input echoed back.

use crate::common::*;
use fieldcase_core::protocol::{
    encode_body, ErrorCode, SyncRequest, CONTENT_TYPE, MAX_COMPRESSED_BODY_BYTES,
    MAX_DECOMPRESSED_BODY_BYTES, PROTOCOL_VERSION,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MARKER: &str = "Amanuel-Tesfaye-1987";

async fn sync_body(
    h: &Harness,
    d: &TestDevice,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, ErrorCode, String) {
    let reply = h
        .send(Method::POST, "/v1/sync", Some(&d.credential), ct, body)
        .await;
    let error = reply.error();
    assert!(
        reply.status.is_client_error(),
        "{} for {:?}",
        reply.status,
        error
    );
    assert!(
        !error.message.contains(MARKER),
        "input echoed: {}",
        error.message
    );
    (reply.status, error.error, error.message)
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 3).unwrap()
}

#[tokio::test]
async fn broken_sync_bodies_are_client_errors() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let valid = encode_body(&SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops: vec![case_op(
            &d,
            1,
            fieldcase_core::RecordId::new(),
            &[("x", json!(MARKER))],
        )],
        cursor: None,
        pull_limit: None,
        commands: vec![],
        handoff: None,
    });
    let ct = Some(CONTENT_TYPE);
    let bad_request = (StatusCode::BAD_REQUEST, ErrorCode::BadRequest);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not zstd", MARKER.as_bytes().to_vec()),
        ("empty", vec![]),
        ("truncated zstd", valid[..valid.len() / 2].to_vec()),
        (
            "zstd of not JSON",
            zstd(format!("{{\"protocol\": {MARKER}").as_bytes()),
        ),
        (
            "zstd of the wrong shape",
            zstd(
                json!({"protocol": MARKER, "ops": [], "cursor": null})
                    .to_string()
                    .as_bytes(),
            ),
        ),
        (
            "an operation with a bad id",
            zstd(
                json!({"protocol": 1, "cursor": null, "ops": [{"op_id": {"d": MARKER, "s": 1},
                    "kind": "case", "record_id": MARKER, "hlc": {"w": 1, "c": 0, "d": MARKER},
                    "fields": {}}]})
                .to_string()
                .as_bytes(),
            ),
        ),
        (
            "JSON not compressed",
            json!({"protocol": 1, "ops": [], "cursor": null})
                .to_string()
                .into_bytes(),
        ),
    ];
    for (what, body) in cases {
        let (status, code, _) = sync_body(&h, &d, ct, body).await;
        assert_eq!((status, code), bad_request, "{what}");
    }
    // Nothing above was applied.
    assert_eq!(h.sync(&d, vec![], None, None).await.acked_through, 0);
}

#[tokio::test]
async fn wrong_content_types_are_refused() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let body = encode_body(&SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops: vec![],
        cursor: None,
        pull_limit: None,
        commands: vec![],
        handoff: None,
    });
    for ct in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("application/zstd"),
    ] {
        let (status, code, _) = sync_body(&h, &d, ct, body.clone()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        assert_eq!(code, ErrorCode::UnsupportedMediaType);
    }
    // Parameters on the right type are fine.
    let ok = h
        .send(
            Method::POST,
            "/v1/sync",
            Some(&d.credential),
            Some(&format!("{CONTENT_TYPE}; charset=utf-8")),
            body,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let enroll_zstd = h
        .send(
            Method::POST,
            "/v1/enroll",
            None,
            Some(CONTENT_TYPE),
            zstd(b"{}"),
        )
        .await;
    assert_eq!(enroll_zstd.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    enroll_zstd.error();
}

#[tokio::test]
async fn oversized_and_exploding_bodies_are_refused() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;

    let oversized = vec![0u8; MAX_COMPRESSED_BODY_BYTES + 1];
    let (status, code, _) = sync_body(&h, &d, Some(CONTENT_TYPE), oversized).await;
    assert_eq!(
        (status, code),
        (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
    );

    let bomb = zstd(&vec![b' '; MAX_DECOMPRESSED_BODY_BYTES + 16]);
    assert!(bomb.len() < MAX_COMPRESSED_BODY_BYTES);
    let (status, code, _) = sync_body(&h, &d, Some(CONTENT_TYPE), bomb).await;
    assert_eq!(
        (status, code),
        (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
    );

    let big_json = json!({"code": "x".repeat(100_000), "device_label": "p"}).to_string();
    let reply = h
        .send(
            Method::POST,
            "/v1/enroll",
            None,
            Some("application/json"),
            big_json.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    reply.error();
}

/// The declared length is refused before the body is read: the server answers while the
/// client has sent nothing but headers.
#[tokio::test]
async fn a_declared_oversize_is_refused_before_any_body_is_sent() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let d = h.device("iom_uga").await;
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        d.credential,
        MAX_COMPRESSED_BODY_BYTES + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answers without waiting for the body")
    .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
}

#[tokio::test]
async fn broken_json_bodies_and_unknown_routes_are_client_errors() {
    let h = Harness::start().await;
    type Case<'a> = (Method, &'a str, Option<&'a str>, Vec<u8>, StatusCode);
    let cases: Vec<Case<'_>> = vec![
        (
            Method::POST,
            "/v1/enroll",
            Some("application/json"),
            b"{\"code\":".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/enroll",
            Some("application/json"),
            json!({"code": 7, "device_label": MARKER})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/enroll",
            None,
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::GET,
            "/v1/enroll",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/v1/sync",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/v2/anything",
            None,
            vec![],
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, ct, body, expected) in cases {
        let reply = h.send(method.clone(), path, None, ct, body).await;
        assert_eq!(reply.status, expected, "{method} {path}");
        let error = reply.error();
        assert!(!error.message.contains(MARKER));
    }
    let admin_garbage = h
        .send(
            Method::POST,
            "/v1/admin/agencies",
            Some(&h.admin_token),
            Some("application/json"),
            format!("{{\"code\": \"{MARKER}\", \"name\": 5}}").into_bytes(),
        )
        .await;
    assert_eq!(admin_garbage.status, StatusCode::BAD_REQUEST);
    assert!(!admin_garbage.error().message.contains(MARKER));
}
