//! Tokens an admin hands out: who may issue what (an agency admin cannot mint network-wide
//! report access), and their lifecycle (expiry, listing, revocation, rotation).

use crate::common::*;
use fieldcase_core::RecordId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Pushes `n` cases of sex `sex` from a new device of `agency`, so reports have figures.
async fn cases(h: &Harness, agency: &str, sex: &str, n: u64) {
    let d = h.device(agency).await;
    let ops = (1..=n)
        .map(|seq| {
            case_op(
                &d,
                seq,
                RecordId::new(),
                &[("sex", json!(sex)), ("intake_date", json!("2026-03-01"))],
            )
        })
        .collect();
    h.sync(&d, ops, None, None).await;
}

/// `GET path` with `token`, which must succeed.
async fn get_ok(h: &Harness, token: &str, path: &str) -> Value {
    let reply = h.json_call(Method::GET, path, Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.json());
    reply.json()
}

/// The attack: an agency admin creates an analyst in its own agency, issues it an API token,
/// and asks for the network's figures (and for exact counts). It must get its own agency's
/// figures only, and no grant.
#[tokio::test]
async fn an_agency_admin_cannot_mint_network_wide_report_access() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    h.add_agency("agency_b").await;
    cases(&h, "agency_a", "female", 6).await;
    cases(&h, "agency_b", "male", 7).await;
    let a_admin = h.agency_admin_token("agency_a").await;

    let reply = h
        .json_call(
            Method::POST,
            "/v1/admin/users",
            Some(&a_admin),
            Some(json!({"agency": "agency_a", "role": "analyst", "display_name": "Analyst"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let analyst = reply.json()["id"].as_str().unwrap().to_owned();
    let issue = |grants: Value| {
        let path = format!("/v1/admin/users/{analyst}/api-tokens");
        let a_admin = a_admin.clone();
        let h = &h;
        async move {
            h.json_call(
                Method::POST,
                &path,
                Some(&a_admin),
                Some(json!({"label": "laptop", "grants": grants})),
            )
            .await
        }
    };

    // Asking for a grant is refused, and issues nothing.
    let refused = issue(json!(["exact_counts"])).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.error();

    let issued = issue(json!([])).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.json());
    let token = issued.json()["token"].as_str().unwrap().to_owned();

    // Network-wide figures: the analyst gets agency A's, exactly what A's admin gets.
    let network = get_ok(&h, &h.admin_token, "/v1/reports/by_sex?disclosure=public").await;
    let own = get_ok(&h, &a_admin, "/v1/reports/by_sex?disclosure=public").await;
    let asked = get_ok(&h, &token, "/v1/reports/by_sex").await;
    assert_eq!(asked["scope"]["agency"], "agency_a", "{asked}");
    assert_eq!(asked["tables"], own["tables"]);
    assert_ne!(
        asked["tables"], network["tables"],
        "the network has B's cases too"
    );
    let options = get_ok(&h, &token, "/v1/reports/options").await;
    assert_eq!(options["scope_agency"], "agency_a");
    assert_eq!(options["agencies"], json!(["agency_a"]));

    // Asking for another agency, or for exact counts, is refused.
    for path in [
        "/v1/reports/by_sex?agency=agency_b",
        "/v1/reports/by_sex?disclosure=internal",
    ] {
        let reply = h.json_call(Method::GET, path, Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        reply.error();
    }

    // A network-wide token for the same analyst comes from a system admin only.
    let reply = h
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{analyst}/api-tokens"),
            Some(json!({"label": "central office"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let central = reply.json()["token"].as_str().unwrap().to_owned();
    let wide = get_ok(&h, &central, "/v1/reports/by_sex").await;
    assert!(wide["scope"]["agency"].is_null(), "{wide}");
    assert_eq!(wide["tables"], network["tables"]);
}

const DAY_MS: u64 = 86_400_000;

/// Creates a user of `role` in `agency` (as the system admin) and an API token for it.
async fn api_token(h: &Harness, agency: &str, role: &str, body: Value) -> (String, Value) {
    let user = h.add_user(agency, role).await;
    let reply = h
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{user}/api-tokens"),
            Some(body),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let body = reply.json();
    (body["token"].as_str().unwrap().to_owned(), body)
}

/// Keys of every object of a listing, and that no secret (nor its hash) appears in it.
fn assert_listing_holds_no_secret(listing: &Value, secrets: &[&str], keys: &[&str]) {
    let text = listing.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a listing shows a secret");
        for kind in [
            fieldcase_server::credentials::SecretKind::AdminToken,
            fieldcase_server::credentials::SecretKind::ApiToken,
            fieldcase_server::credentials::SecretKind::EnrollmentCode,
        ] {
            let normalized = fieldcase_server::credentials::normalize_enrollment_code(secret);
            let secret = normalized.as_deref().unwrap_or(secret);
            let hash = fieldcase_server::credentials::hash_secret(kind, secret);
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                !text.to_lowercase().contains(&hex[..16]),
                "a listing shows a hash"
            );
        }
    }
    for item in listing.as_array().unwrap() {
        let mut found: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        found.sort_unstable();
        let mut expected = keys.to_vec();
        expected.sort_unstable();
        assert_eq!(found, expected);
    }
}

#[tokio::test]
async fn expired_admin_and_api_tokens_are_refused() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    let reply = h
        .admin(
            Method::POST,
            "/v1/admin/tokens",
            Some(json!({"agency": "agency_a", "label": "short", "expires_days": 1})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let admin = reply.json()["token"].as_str().unwrap().to_owned();
    let (api, issued) = api_token(
        &h,
        "agency_a",
        "supervisor",
        json!({"label": "short", "expires_days": 1}),
    )
    .await;
    assert!(issued["expires_at"].is_string());
    // Out-of-range validity is refused.
    for days in [0, 366] {
        let reply = h
            .admin(
                Method::POST,
                "/v1/admin/tokens",
                Some(json!({"agency": "agency_a", "label": "x", "expires_days": days})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{days} days");
    }

    let admin_call = |token: String| {
        let h = &h;
        async move {
            h.json_call(Method::GET, "/v1/admin/users", Some(&token), None)
                .await
                .status
        }
    };
    let report_call = |token: String| {
        let h = &h;
        async move {
            h.json_call(Method::GET, "/v1/reports/options", Some(&token), None)
                .await
                .status
        }
    };
    h.time.advance_ms(DAY_MS - 1);
    assert_eq!(admin_call(admin.clone()).await, StatusCode::OK);
    assert_eq!(report_call(api.clone()).await, StatusCode::OK);
    h.time.advance_ms(1);
    assert_eq!(admin_call(admin.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(report_call(api.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(report_call(admin).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn listed_tokens_show_no_secret_and_a_revoked_token_is_refused_at_once() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    let admin = h.agency_admin_token("agency_a").await;
    let (api, _) = api_token(&h, "agency_a", "supervisor", json!({"label": "laptop"})).await;
    let (other_api, _) = api_token(&h, "agency_a", "supervisor", json!({"label": "other"})).await;
    // Both are used once, so the listing has a last use.
    assert_eq!(
        h.json_call(Method::GET, "/v1/admin/users", Some(&admin), None)
            .await
            .status,
        StatusCode::OK
    );
    get_ok(&h, &api, "/v1/reports/options").await;

    let tokens = get_ok(&h, &h.admin_token, "/v1/admin/tokens").await;
    assert_listing_holds_no_secret(
        &tokens,
        &[&admin, &h.admin_token],
        &[
            "id",
            "agency",
            "label",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ],
    );
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2, "the first system token and A's");
    let a_entry = tokens.iter().find(|t| t["agency"] == "agency_a").unwrap();
    assert!(a_entry["last_used_at"].is_string());
    let api_tokens = get_ok(&h, &h.admin_token, "/v1/admin/api-tokens").await;
    assert_listing_holds_no_secret(
        &api_tokens,
        &[&api, &other_api],
        &[
            "id",
            "user_id",
            "agency",
            "role",
            "limited_to",
            "grants",
            "label",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ],
    );
    let api_entry = api_tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "laptop")
        .unwrap();
    assert!(api_entry["last_used_at"].is_string());

    // Revoked: refused on the very next request; the other token is untouched.
    let path = format!(
        "/v1/admin/api-tokens/{}/revoke",
        api_entry["id"].as_str().unwrap()
    );
    let reply = h.json_call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json()["revoked_at"].is_string());
    let refused = h
        .json_call(Method::GET, "/v1/reports/options", Some(&api), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    get_ok(&h, &other_api, "/v1/reports/options").await;

    let path = format!(
        "/v1/admin/tokens/{}/revoke",
        a_entry["id"].as_str().unwrap()
    );
    let reply = h.admin(Method::POST, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let refused = h
        .json_call(Method::GET, "/v1/admin/users", Some(&admin), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    refused.error();
}

#[tokio::test]
async fn a_revoked_enrollment_code_cannot_enroll() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    let user = h.add_user("agency_a", "caseworker").await;
    let reply = h.issue_code(&user, json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let issued = reply.json();
    let code = issued["code"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    let spare = h.code_for(&user).await;

    let listed = get_ok(&h, &h.admin_token, "/v1/admin/enrollment-codes").await;
    assert_listing_holds_no_secret(
        &listed,
        &[&code, &spare],
        &[
            "id",
            "user_id",
            "agency",
            "created_at",
            "expires_at",
            "used_at",
            "revoked_at",
        ],
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let reply = h
        .admin(
            Method::POST,
            &format!("/v1/admin/enrollment-codes/{id}/revoke"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json()["revoked_at"].is_string());
    let refused = h.enroll(&code).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    refused.error();
    assert_eq!(h.enroll(&spare).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_agency_admin_cannot_list_or_revoke_another_agency_credentials() {
    let h = Harness::start().await;
    h.add_agency("agency_a").await;
    h.add_agency("agency_b").await;
    let a_admin = h.agency_admin_token("agency_a").await;
    let b_admin = h.agency_admin_token("agency_b").await;
    let (b_api, _) = api_token(&h, "agency_b", "supervisor", json!({"label": "b"})).await;
    let b_user = h.add_user("agency_b", "caseworker").await;
    let b_code = h.code_for(&b_user).await;
    let id_of = |listing: Value, pick: &dyn Fn(&Value) -> bool| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|t| pick(t))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let b_admin_id = id_of(get_ok(&h, &h.admin_token, "/v1/admin/tokens").await, &|t| {
        t["agency"] == "agency_b"
    });
    let b_api_id = id_of(
        get_ok(&h, &h.admin_token, "/v1/admin/api-tokens").await,
        &|t| t["agency"] == "agency_b",
    );
    let b_code_id = id_of(
        get_ok(&h, &h.admin_token, "/v1/admin/enrollment-codes").await,
        &|t| t["agency"] == "agency_b",
    );

    // A's listings hold nothing of B's, with or without asking for B.
    for path in [
        "/v1/admin/tokens",
        "/v1/admin/api-tokens",
        "/v1/admin/enrollment-codes",
    ] {
        for query in ["", "?agency=agency_b"] {
            let listed = get_ok(&h, &a_admin, &format!("{path}{query}")).await;
            assert!(
                !listed.to_string().contains("agency_b"),
                "{path}{query}: {listed}"
            );
        }
    }

    // Revoking B's: exactly the answer for an id that does not exist, and B's still work.
    for (kind, id) in [
        ("tokens", &b_admin_id),
        ("api-tokens", &b_api_id),
        ("enrollment-codes", &b_code_id),
    ] {
        let foreign = h
            .json_call(
                Method::POST,
                &format!("/v1/admin/{kind}/{id}/revoke"),
                Some(&a_admin),
                None,
            )
            .await;
        let missing = h
            .json_call(
                Method::POST,
                &format!("/v1/admin/{kind}/{}/revoke", uuid::Uuid::new_v4().simple()),
                Some(&a_admin),
                None,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{kind}");
        assert_eq!(foreign.status, missing.status, "{kind}");
        assert_eq!(foreign.body, missing.body, "{kind}");
    }
    assert_eq!(
        h.json_call(Method::GET, "/v1/admin/users", Some(&b_admin), None)
            .await
            .status,
        StatusCode::OK
    );
    get_ok(&h, &b_api, "/v1/reports/options").await;
    assert_eq!(h.enroll(&b_code).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn rotating_the_first_token_revokes_it_and_deletes_its_file() {
    let h = Harness::start().await;
    let file = h.server.data_dir.join("admin.token");
    assert!(file.exists());
    let old = h.admin_token.clone();
    let reply = h
        .admin(
            Method::POST,
            "/v1/admin/tokens/rotate",
            Some(json!({"expires_days": 30})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let rotated = reply.json();
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert!(rotated["agency"].is_null(), "still a system token");
    assert_eq!(rotated["label"], "first system admin");
    assert!(!file.exists(), "the first-start file held a dead secret");

    let refused = h
        .json_call(Method::GET, "/v1/admin/agencies", Some(&old), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let again = h
        .json_call(
            Method::POST,
            "/v1/admin/tokens/rotate",
            Some(&old),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a dead token rotates nothing"
    );
    let reply = h
        .json_call(
            Method::POST,
            "/v1/admin/agencies",
            Some(&new),
            Some(json!({"code": "agency_a", "name": "A"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    // An agency admin rotates its own token, within its agency.
    let reply = h
        .json_call(
            Method::POST,
            "/v1/admin/tokens",
            Some(&new),
            Some(json!({"agency": "agency_a", "label": "A admin"})),
        )
        .await;
    let a_admin = reply.json()["token"].as_str().unwrap().to_owned();
    let reply = h
        .json_call(
            Method::POST,
            "/v1/admin/tokens/rotate",
            Some(&a_admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["agency"], "agency_a");
    let listed = get_ok(&h, &new, "/v1/admin/tokens").await;
    let live = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null())
        .count();
    assert_eq!(
        live, 2,
        "one system token and one of A, the rotated ones revoked"
    );
}
