//! `GET /v1/reports/series`: month-by-month tables through a real server on loopback, with
//! cases pushed by a real device. Exact series count what this test counts itself from the
//! generated intake dates; a public series is, month by month, exactly the public report of
//! that month (the same perturbation and suppression); bad periods and missing rights are
//! refused as the report routes refuse them.

mod common;

use common::enrolled_device;
use fieldcase_core::model::Case;
use fieldcase_core::sample::SampleCases;
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use fieldcase_server::{Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const AGENCY: &str = "iom_uga";

async fn get(token: &str, url: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn table<'a>(tables: &'a Value, id: &str) -> &'a Value {
    tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no table {id}"))
}

#[tokio::test]
async fn a_series_is_each_months_report_exact_or_published() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(ServerConfig::new(dir.path().join("server")))
        .await
        .unwrap();
    let root = server.admin_token().unwrap();
    let admin = AdminClient::new(&server.base_url, root.clone()).unwrap();
    admin.create_agency(AGENCY, "IOM Uganda").await.unwrap();
    let device = enrolled_device(&server.base_url, &admin, AGENCY, dir.path(), "cw").await;

    // 150 cases, intakes spread over the first half of 2025 unevenly (more in later months).
    let mut generator = SampleCases::new(7);
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..150u32 {
        let mut json = generator.next_case();
        let month = 1 + (i * i) % 6;
        let intake = format!("2025-{month:02}-{:02}", 1 + i % 28);
        json["intake_date"] = json!(intake);
        json["consent"]["assistance"]["date"] = json!(intake);
        for key in ["return_date", "host_country", "reintegration_assistance"] {
            json.as_object_mut().unwrap().remove(key);
        }
        let case = Case::from_json(&json).unwrap();
        device.store().create_case(&case).unwrap();
        *per_month.entry(intake[..7].to_owned()).or_default() += 1;
    }
    device.sync().await.unwrap();
    let base = format!("{}/v1/reports", server.base_url);

    // Exact: each month counts its own intakes, and equals that month's report.
    let (status, series) = get(
        &root,
        &format!("{base}/series?from=2025-01-01&to=2025-06-30&count=assistance&tables=by_sex,by_nationality"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{series}");
    assert_eq!(series["disclosure"], "internal");
    let months = series["months"].as_array().unwrap();
    let names: Vec<&str> = months
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
    );
    for m in months {
        let month = m["month"].as_str().unwrap();
        let total = table(&m["tables"], "by_sex")["total"]["count"].as_u64();
        assert_eq!(
            total,
            Some(per_month.get(month).copied().unwrap_or(0)),
            "{month}"
        );
        let last = fieldcase_core::model::date::days_in_month(2025, month[5..].parse().unwrap());
        let (_, report) = get(
            &root,
            &format!("{base}?from={month}-01&to={month}-{last}&count=assistance&tables=by_sex,by_nationality"),
        )
        .await;
        assert_eq!(m["tables"], report["tables"], "{month}");
    }
    assert_eq!(per_month.values().sum::<u64>(), 150);

    // Public, for an analyst without the exact-counts grant: month by month, exactly what
    // the public report of that month publishes — perturbed, suppressed, never 1..threshold.
    let analyst = admin
        .create_user(AGENCY, Role::Analyst, "analyst")
        .await
        .unwrap()
        .id;
    let token = reqwest::Client::new()
        .post(format!(
            "{}/v1/admin/users/{analyst}/api-tokens",
            server.base_url
        ))
        .bearer_auth(&root)
        .json(&json!({"label": "series"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, public) = get(
        &token,
        &format!("{base}/series?year=2025&tables=by_sex,by_age_group,by_nationality"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["disclosure"], "public");
    assert_eq!(public["threshold"], 5);
    assert!(public["perturbation"]["max_perturbation"]
        .as_u64()
        .is_some());
    let months = public["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let (_, exact) = get(
        &root,
        &format!("{base}/series?year=2025&tables=by_sex,by_age_group,by_nationality"),
    )
    .await;
    let mut moved = 0;
    for (m, exact_month) in months.iter().zip(exact["months"].as_array().unwrap()) {
        let month = m["month"].as_str().unwrap();
        let last = fieldcase_core::model::date::days_in_month(2025, month[5..].parse().unwrap());
        let (_, report) = get(
            &token,
            &format!("{base}?from={month}-01&to={month}-{last}&tables=by_sex,by_age_group,by_nationality"),
        )
        .await;
        assert_eq!(report["disclosure"], "public");
        assert_eq!(m["tables"], report["tables"], "{month}");
        for t in m["tables"].as_array().unwrap() {
            let exact_table = table(&exact_month["tables"], t["id"].as_str().unwrap());
            for (row, exact_row) in t["rows"]
                .as_array()
                .unwrap()
                .iter()
                .zip(exact_table["rows"].as_array().unwrap())
            {
                let n = row["cells"][0]["count"].as_u64();
                if let Some(n) = n {
                    assert!(n == 0 || n >= 5, "{month} publishes {n}");
                }
                if n != exact_row["cells"][0]["count"].as_u64() {
                    moved += 1;
                }
            }
        }
    }
    assert!(
        moved > 0,
        "published months are perturbed, not the exact counts"
    );
    // The months without cases are zeros, not an error.
    assert_eq!(
        table(&months[11]["tables"], "by_sex")["total"]["count"],
        json!(0)
    );

    // Refused: a period that is not whole months, too long a series, another format, exact
    // counts without the grant, a caseworker-free token that is not a report caller.
    for (who, query, expected) in [
        (
            &root,
            "from=2025-01-02&to=2025-01-31",
            StatusCode::BAD_REQUEST,
        ),
        (
            &root,
            "from=2025-01-01&to=2025-01-30",
            StatusCode::BAD_REQUEST,
        ),
        (
            &root,
            "from=2020-01-01&to=2025-12-31",
            StatusCode::BAD_REQUEST,
        ),
        (&root, "", StatusCode::BAD_REQUEST),
        (&root, "year=2025&format=csv", StatusCode::BAD_REQUEST),
        (&root, "year=2025&grouping=x", StatusCode::BAD_REQUEST),
        (
            &token,
            "year=2025&disclosure=internal",
            StatusCode::FORBIDDEN,
        ),
        (&token, "year=2025&threshold=3", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = get(who, &format!("{base}/series?{query}")).await;
        assert_eq!(status, expected, "{query}: {body}");
    }
    let (status, _) = get(&device.credential, &format!("{base}/series?year=2025")).await;
    assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN);

    // A report says how recent its data is: the device's sync.
    let (_, report) = get(&root, &format!("{base}?tables=by_sex")).await;
    let as_of = report["data_as_of"].as_str().expect("data_as_of");
    assert!(as_of.starts_with("20") && as_of.contains('T'), "{as_of}");

    server.shutdown().await.unwrap();
}
