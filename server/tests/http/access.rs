//! The access matrix: another agency's objects answer exactly like objects that do not exist,
//! and another agency's records can be neither written nor read.

use crate::common::*;
use fieldcase_core::protocol::RejectReason;
use fieldcase_core::RecordId;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_device_can_neither_write_nor_read_another_agency_records() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    h.add_agency("agency_b").await;
    let a1 = h.device("agency_a").await;
    let a2 = h.device("agency_a").await;
    let b1 = h.device("agency_b").await;

    let case_a = RecordId::new();
    h.sync(
        &a1,
        vec![case_op(&a1, 1, case_a, &[("sex", json!("female"))])],
        None,
        None,
    )
    .await;

    // B writes to A's case, hangs a service and a note on it, and on a case that does not exist.
    let reply = h
        .sync(
            &b1,
            vec![
                case_op(&b1, 1, case_a, &[("status", json!("closed"))]),
                service_op(&b1, 2, RecordId::new(), case_a),
                note_op(&b1, 3, RecordId::new(), case_a, "hello"),
                service_op(&b1, 4, RecordId::new(), RecordId::new()),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(
        reply.acked_through, 4,
        "refused operations count as processed"
    );
    assert_eq!(reply.rejections.len(), 4);
    for rejection in &reply.rejections {
        assert_eq!(rejection.reason, RejectReason::Forbidden);
    }
    assert!(reply.ops.is_empty(), "B sees nothing of A");

    // Nothing of B's reached A, and B's pull holds nothing of A's.
    assert_eq!(
        h.pull_all(&a2).await,
        vec![case_op(&a1, 1, case_a, &[("sex", json!("female"))])]
    );
    assert!(h.pull_all(&b1).await.is_empty());

    // B's own records flow within B only.
    let b2 = h.device("agency_b").await;
    let case_b = RecordId::new();
    h.sync(
        &b1,
        vec![case_op(&b1, 5, case_b, &[("sex", json!("male"))])],
        None,
        None,
    )
    .await;
    assert_eq!(h.pull_all(&b2).await.len(), 1);
    assert_eq!(h.pull_all(&a2).await.len(), 1);
}

/// An agency-admin token of agency B, and objects of agency A.
struct TwoAgencies {
    h: Harness,
    b_token: String,
    a_user: String,
    a_device: TestDevice,
}

async fn two_agencies() -> TwoAgencies {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    h.add_agency("agency_b").await;
    let a_device = h.device("agency_a").await;
    h.device("agency_b").await;
    let a_user = a_device.user_id.clone();
    let reply = h
        .admin(
            Method::POST,
            "/v1/admin/tokens",
            Some(json!({"agency": "agency_b", "label": "B admin"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let b_token = reply.json()["token"].as_str().unwrap().to_owned();
    TwoAgencies {
        h,
        b_token,
        a_user,
        a_device,
    }
}

#[tokio::test]
async fn another_agency_objects_look_exactly_like_missing_ones() {
    let t = two_agencies().await;
    let h = &t.h;
    let b = Some(t.b_token.as_str());
    let missing_uuid = uuid::Uuid::new_v4().to_string();

    // (foreign object, nonexistent object, malformed id) → same status and body.
    let cases: Vec<(Method, String, String, String, Option<serde_json::Value>)> = vec![
        (
            Method::POST,
            format!("/v1/admin/users/{}/enrollment-codes", t.a_user),
            format!("/v1/admin/users/{missing_uuid}/enrollment-codes"),
            "/v1/admin/users/not-an-id/enrollment-codes".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/admin/devices/{}/revoke", t.a_device.id),
            format!("/v1/admin/devices/{missing_uuid}/revoke"),
            "/v1/admin/devices/not-an-id/revoke".into(),
            None,
        ),
    ];
    for (method, foreign, missing, malformed, body) in cases {
        let f = h.json_call(method.clone(), &foreign, b, body.clone()).await;
        let m = h.json_call(method.clone(), &missing, b, body.clone()).await;
        let x = h
            .json_call(method.clone(), &malformed, b, body.clone())
            .await;
        assert_eq!(f.status, StatusCode::NOT_FOUND, "{foreign}");
        f.error();
        for other in [&m, &x] {
            assert_eq!(
                (other.status, &other.body),
                (f.status, &f.body),
                "{foreign}"
            );
        }
    }

    // Creating a user in another agency = in an agency that does not exist.
    let user_in =
        |agency: &str| json!({"agency": agency, "role": "caseworker", "display_name": "Someone"});
    let foreign = h
        .json_call(
            Method::POST,
            "/v1/admin/users",
            b,
            Some(user_in("agency_a")),
        )
        .await;
    let missing = h
        .json_call(
            Method::POST,
            "/v1/admin/users",
            b,
            Some(user_in("no_such_agency")),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (foreign.status, &foreign.body),
        (missing.status, &missing.body)
    );

    // Listing another agency = listing one that does not exist: empty.
    for list in ["/v1/admin/users", "/v1/admin/devices"] {
        let foreign = h
            .json_call(Method::GET, &format!("{list}?agency=agency_a"), b, None)
            .await;
        let missing = h
            .json_call(
                Method::GET,
                &format!("{list}?agency=no_such_agency"),
                b,
                None,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::OK);
        assert_eq!(foreign.json(), json!([]));
        assert_eq!(foreign.body, missing.body);
        let own = h.json_call(Method::GET, list, b, None).await.json();
        for item in own.as_array().unwrap() {
            assert_eq!(
                item["agency"], "agency_b",
                "{list} shows only the caller's agency"
            );
        }
        assert_eq!(own.as_array().unwrap().len(), 1);
    }
    let agencies = h
        .json_call(Method::GET, "/v1/admin/agencies", b, None)
        .await
        .json();
    assert_eq!(agencies.as_array().unwrap().len(), 1);
    assert_eq!(agencies[0]["code"], "agency_b");

    // Network-wide actions are a system admin's.
    for (path, body) in [
        (
            "/v1/admin/agencies",
            json!({"code": "agency_c", "name": "C"}),
        ),
        (
            "/v1/admin/tokens",
            json!({"agency": "agency_b", "label": "more"}),
        ),
    ] {
        let reply = h.json_call(Method::POST, path, b, Some(body)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        reply.error();
    }

    // And A's device is untouched by B's attempt to revoke it.
    assert_eq!(
        h.sync(&t.a_device, vec![], None, None).await.acked_through,
        0
    );
}

#[tokio::test]
async fn an_agency_admin_manages_its_own_agency() {
    let t = two_agencies().await;
    let h = &t.h;
    let b = Some(t.b_token.as_str());
    let reply = h
        .json_call(
            Method::POST,
            "/v1/admin/users",
            b,
            Some(json!({"agency": "agency_b", "role": "caseworker", "display_name": "New"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let user = reply.json()["id"].as_str().unwrap().to_owned();
    let reply = h
        .json_call(
            Method::POST,
            &format!("/v1/admin/users/{user}/enrollment-codes"),
            b,
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let system_admin_user = h
        .json_call(
            Method::POST,
            "/v1/admin/users",
            b,
            Some(json!({"agency": "agency_b", "role": "system_admin", "display_name": "X"})),
        )
        .await;
    assert_eq!(system_admin_user.status, StatusCode::FORBIDDEN);
}
