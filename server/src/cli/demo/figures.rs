//! The demo's report figures: what the central office's analyst sees, exact inside the
//! network and protected for publication, and the token that opens the dashboard.

use super::say;
use crate::admin_client::AdminClient;
use crate::cli::output::Output;
use crate::report_api::{ApiTokenBody, NewApiTokenBody};
use crate::roles::{Grant, Role};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

/// The table the demo prints: a dozen rows, several of them small enough that publication
/// must protect them.
const TABLE: &str = "by_nationality";

/// One table as the demo prints it: its rows' labels and counts, as the server gave them.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub disclosure: String,
    pub rows: Vec<(String, String)>,
}

/// What the analyst was given and saw. No `Debug`: it holds a token.
#[derive(Serialize)]
pub struct AnalystView {
    /// An API token of a central-office analyst allowed exact counts, for the dashboard.
    #[serde(skip)]
    pub token: String,
    pub exact: Figures,
    pub public: Figures,
}

/// Creates an analyst with an API token allowed exact counts, and reads one table both ways.
pub async fn analyst_view(
    base_url: &str,
    admin: &AdminClient,
    agency: &str,
    out: Output,
) -> anyhow::Result<AnalystView> {
    let user = admin
        .create_user(agency, Role::Analyst, "Central office analyst")
        .await?;
    let body = NewApiTokenBody {
        label: "demo dashboard".into(),
        grants: vec![Grant::ExactCounts],
        expires_days: Some(1),
    };
    let token: ApiTokenBody = admin
        .call(
            Method::POST,
            &format!("/v1/admin/users/{}/api-tokens", user.id),
            Some(&body),
        )
        .await?;
    let analyst = AdminClient::new(base_url, token.token.clone())?;
    let read = async |disclosure: &str| -> anyhow::Result<Figures> {
        let report: Value = analyst
            .call(
                Method::GET,
                &format!("/v1/reports/{TABLE}?disclosure={disclosure}"),
                None::<&()>,
            )
            .await?;
        Ok(Figures {
            disclosure: disclosure.to_owned(),
            rows: rows_of(&report),
        })
    };
    let exact = read("internal").await?;
    let public = read("public").await?;
    say(
        out,
        "\nThe central office's analyst reads the people assisted by nationality — exact inside \
         the network, protected for publication (every count given a little fixed noise, \
         nothing from 1 to 4 ever shown, so no one can be singled out):",
    );
    for figures in [&exact, &public] {
        let line: Vec<String> = figures
            .rows
            .iter()
            .map(|(label, count)| format!("{label} {count}"))
            .collect();
        say(
            out,
            format!("  {:<9} {}", figures.disclosure, line.join(" · ")),
        );
    }
    Ok(AnalystView {
        token: token.token,
        exact,
        public,
    })
}

/// The rows of the first table of a report, with the total, as (label, count) text.
fn rows_of(report: &Value) -> Vec<(String, String)> {
    let table = report
        .get("tables")
        .and_then(|t| t.get(0))
        .unwrap_or(report);
    let mut rows: Vec<(String, String)> = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let label = row["key"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ");
            (label, count_text(&row["cells"][0], report))
        })
        .collect();
    if !table["total"].is_null() {
        rows.push(("total".into(), count_text(&table["total"], report)));
    }
    rows
}

/// A published count, or what stands for a hidden one (`<threshold`).
fn count_text(cell: &Value, report: &Value) -> String {
    match cell["count"].as_u64() {
        Some(n) => n.to_string(),
        None => match report["threshold"].as_u64() {
            Some(threshold) => format!("<{threshold}"),
            None => "hidden".into(),
        },
    }
}
