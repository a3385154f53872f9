//! Enrollment: a one-time code becomes a device credential exactly once.

use crate::common::*;
use fieldcase_core::protocol::{EnrollResponse, ErrorCode};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_valid_code_enrolls_a_device_whose_credential_syncs() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let user = h.add_user("iom_uga", "caseworker").await;
    let code = h.code_for(&user).await;
    assert_eq!(code.len(), 14, "grouped like K7QM-4TXP-9WDR: {code}");

    // Typed in lower case without dashes still works.
    let typed = code.replace('-', "").to_lowercase();
    let reply = h.enroll(&typed).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let enrolled: EnrollResponse = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(enrolled.agency.as_str(), "iom_uga");
    assert_eq!(enrolled.user_id, user);
    assert_eq!(enrolled.role, "caseworker");
    assert_eq!(enrolled.credential.len(), 43);

    let device = TestDevice {
        id: enrolled.device_id,
        credential: enrolled.credential,
        user_id: user.clone(),
        agency: "iom_uga".into(),
    };
    let page = h.sync(&device, vec![], None, None).await;
    assert_eq!(page.acked_through, 0);

    let devices = h.admin(Method::GET, "/v1/admin/devices", None).await.json();
    let listed = &devices.as_array().unwrap()[0];
    assert_eq!(listed["id"], device.id.to_string());
    assert_eq!(listed["user_id"], user);
    assert_eq!(listed["label"], "field phone");
    assert!(listed["revoked_at"].is_null());
    assert!(listed["last_seen_at"].is_string(), "the sync was recorded");
}

#[tokio::test]
async fn reused_expired_and_unknown_codes_get_one_and_the_same_answer() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let user = h.add_user("iom_uga", "caseworker").await;

    let used = h.code_for(&user).await;
    assert_eq!(h.enroll(&used).await.status, StatusCode::CREATED);
    let reused = h.enroll(&used).await;

    let expiring = h.code_for(&user).await;
    h.time.advance_ms(73 * 3_600_000);
    let expired = h.enroll(&expiring).await;

    let unknown = h.enroll("K7QM-4TXP-9WDR").await;
    let malformed = h.enroll("not a code").await;

    let first = reused.error();
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first.error, ErrorCode::Unauthorized);
    for other in [&expired, &unknown, &malformed] {
        assert_eq!(other.status, reused.status);
        assert_eq!(
            other.body, reused.body,
            "the answers must be indistinguishable"
        );
    }
    assert_eq!(
        h.admin(Method::GET, "/v1/admin/devices", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the first enrollment made a device"
    );
}

#[tokio::test]
async fn a_code_honours_its_own_validity() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let user = h.add_user("iom_uga", "supervisor").await;
    let reply = h.issue_code(&user, json!({"expires_hours": 1})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let code = reply.json()["code"].as_str().unwrap().to_owned();
    h.time.advance_ms(2 * 3_600_000);
    assert_eq!(h.enroll(&code).await.status, StatusCode::UNAUTHORIZED);

    let too_long = h.issue_code(&user, json!({"expires_hours": 10_000})).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    too_long.error();
}

#[tokio::test]
async fn only_caseworkers_and_supervisors_enroll_devices() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let analyst = h.add_user("iom_uga", "analyst").await;
    let reply = h.issue_code(&analyst, json!({})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error().error, ErrorCode::BadRequest);
}

#[tokio::test]
async fn a_device_label_is_checked() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let user = h.add_user("iom_uga", "caseworker").await;
    let code = h.code_for(&user).await;
    let reply = h
        .json_call(
            Method::POST,
            "/v1/enroll",
            None,
            Some(json!({"code": code, "device_label": "x".repeat(500)})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    reply.error();
    assert_eq!(
        h.enroll(&code).await.status,
        StatusCode::CREATED,
        "the code was not spent"
    );
}
