//! What Schemathesis found off the OpenAPI document (scripts/api-fuzz.sh), kept as tests: the
//! replies it saw are documented — the units of report tables, 415 on every route that reads a
//! JSON body, 403 for an API token on every admin route.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn document(h: &Harness) -> Value {
    h.send(Method::GET, "/openapi.json", None, None, vec![])
        .await
        .json()
}

#[tokio::test]
async fn every_report_unit_is_one_the_document_lists() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let doc = document(&h).await;
    let listed: Vec<&str> = doc["components"]["schemas"]["ReportTable"]["properties"]["unit"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for count in ["individuals", "assistance"] {
        let reply = h
            .admin(Method::GET, &format!("/v1/reports?count={count}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "count={count}");
        let report = reply.json();
        let tables = report["tables"].as_array().unwrap();
        assert!(tables.len() > 5, "count={count}: every table by default");
        for table in tables {
            let unit = table["unit"].as_str().unwrap();
            assert!(
                listed.contains(&unit),
                "count={count}: table {} counts {unit:?}, not in the document's {listed:?}",
                table["id"]
            );
        }
    }
}

#[tokio::test]
async fn json_routes_answer_415_for_another_body_type_and_document_it() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let device = h.device("iom_uga").await;
    let doc = document(&h).await;
    let attachment = format!("/v1/attachments/{}", fieldcase_core::RecordId::new());
    let routes: [(Method, &str, &str, &str); 4] = [
        (
            Method::PUT,
            "/v1/admin/agencies/{code}/retention",
            "/v1/admin/agencies/iom_uga/retention",
            &h.admin_token,
        ),
        (
            Method::PUT,
            "/v1/admin/agencies/{code}/device-policy",
            "/v1/admin/agencies/iom_uga/device-policy",
            &h.admin_token,
        ),
        (
            Method::POST,
            "/v1/admin/tokens/rotate",
            "/v1/admin/tokens/rotate",
            &h.admin_token,
        ),
        (
            Method::PUT,
            "/v1/attachments/{attachment_id}",
            &attachment,
            &device.credential,
        ),
    ];
    for (method, documented, path, token) in routes {
        let reply = h
            .send(
                method.clone(),
                path,
                Some(token),
                Some("text/plain"),
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}"
        );
        let responses =
            &doc["paths"][documented][method.as_str().to_ascii_lowercase()]["responses"];
        for status in ["413", "415"] {
            assert!(
                responses.get(status).is_some(),
                "{method} {documented} does not document {status}"
            );
        }
    }
}

#[tokio::test]
async fn an_api_token_gets_the_documented_403_on_every_admin_route() {
    let h = Harness::start().await;
    h.add_agency("iom_uga").await;
    let user = h.add_user("iom_uga", "supervisor").await;
    let issued = h
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{user}/api-tokens"),
            Some(serde_json::json!({"label": "reports"})),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let token = issued.json()["token"].as_str().unwrap().to_owned();
    let doc = document(&h).await;
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let schemes = operation["security"].to_string();
            if !schemes.contains("adminToken") || schemes.contains("apiToken") {
                continue;
            }
            let concrete = path
                .replace("{code}", "iom_uga")
                .replace("{user_id}", &user)
                .replace(['{', '}'], "");
            let method: Method = method.to_uppercase().parse().unwrap();
            let reply = h
                .json_call(
                    method.clone(),
                    &concrete,
                    Some(&token),
                    Some(serde_json::json!({})),
                )
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert!(
                operation["responses"].get("403").is_some(),
                "{method} {path} answers an API token 403 without documenting it"
            );
            tried += 1;
        }
    }
    assert!(tried >= 25, "only {tried} admin routes");
}
