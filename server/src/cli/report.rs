//! `fieldcase report …` and `fieldcase duplicates …`: the report and review API from a
//! terminal.
//!
//! Parameters are passed to the server as they are, so the command line and HTTP answer bad
//! input with the same message listing the allowed values. The token is a user's API token
//! (`fieldcase admin token add --user ID`) or an admin token, from `--token-file`, or the
//! variables `FIELDCASE_TOKEN` or `FIELDCASE_ADMIN_TOKEN` — never an argument.

use super::output::{table, Output};
use crate::admin_client::AdminClient;
use crate::report_api::{CandidateBody, CandidateListBody, ReportOptionsBody};
use crate::reports::format::HIDDEN_COUNT;
use anyhow::Context;
use clap::Args;
use reqwest::Method;
use std::path::PathBuf;

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub struct Connection {
    /// File holding the token (default: FIELDCASE_TOKEN, else FIELDCASE_ADMIN_TOKEN).
    #[arg(long, env = "FIELDCASE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

impl Connection {
    fn client(&self, server: &super::ServerUrl) -> anyhow::Result<AdminClient> {
        let token = match &self.token_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?,
            None => std::env::var("FIELDCASE_TOKEN")
                .or_else(|_| std::env::var("FIELDCASE_ADMIN_TOKEN"))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "no token: pass --token-file FILE or set FIELDCASE_TOKEN (an API token \
                         from `fieldcase admin token add --user ID`)"
                    )
                })?,
        };
        let token = token.trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "the token is empty");
        AdminClient::pinned(server.or_local(), token, server.pins())
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// One table (see `--options`); all tables when left out (JSON only).
    pub table: Option<String>,
    /// A reporting year (intake dates in it).
    #[arg(long)]
    pub year: Option<String>,
    /// First day of the period, YYYY-MM-DD.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the period, YYYY-MM-DD.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub agency: Option<String>,
    /// Country of assistance, ISO 3166-1 alpha-3.
    #[arg(long)]
    pub country: Option<String>,
    /// IOM region id (see `--options`).
    #[arg(long)]
    pub region: Option<String>,
    /// individuals (default) or assistance.
    #[arg(long)]
    pub count: Option<String>,
    /// internal (exact, inside the network) or public (perturbed by the cell-key method).
    #[arg(long)]
    pub disclosure: Option<String>,
    /// Threshold for public output (may only be raised): published counts below it are hidden.
    #[arg(long)]
    pub threshold: Option<String>,
    /// json (default), csv or hxl (one table).
    #[arg(long)]
    pub format: Option<String>,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print what may be asked (tables, regions, agencies, your rights) and stop.
    #[arg(long)]
    pub options: bool,
}

/// A count as text: the number, or [`HIDDEN_COUNT`] when hidden (as in CSV and on the
/// dashboard).
fn cell_text(c: &serde_json::Value) -> String {
    match c["count"].as_u64() {
        Some(n) => n.to_string(),
        None if c.get("suppressed").is_some() => HIDDEN_COUNT.to_owned(),
        None => "?".to_owned(),
    }
}

fn strings(v: &serde_json::Value) -> impl Iterator<Item = &str> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or(""))
}

/// One table as aligned text, laid out as its CSV (`reports::format`): the row dimensions,
/// a name column where rows have names, the counts, the row total of two-way tables, the
/// answers and median of referral tables, then a `total` line with the column totals and the
/// grand total.
fn table_text(t: &serde_json::Value) -> String {
    let rows = t["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
    let has = |key: &str| rows.iter().any(|r| r.get(key).is_some());
    let (has_labels, has_row_totals, has_median) =
        (has("label"), has("total"), has("median_hours_to_answer"));
    let dimensions = t["row_dimensions"].as_array().map_or(1, Vec::len);
    let mut header: Vec<String> = strings(&t["row_dimensions"]).map(str::to_owned).collect();
    if has_labels {
        header.push("name".to_owned());
    }
    header.extend(strings(&t["columns"]).map(str::to_owned));
    if has_row_totals {
        header.push("total".to_owned());
    }
    if has_median {
        header.extend(["answered".to_owned(), "median_hours".to_owned()]);
    }
    let header: Vec<String> = header.iter().map(|h| h.to_uppercase()).collect();
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let mut line: Vec<String> = strings(&r["key"]).map(str::to_owned).collect();
        if has_labels {
            line.push(r["label"].as_str().unwrap_or("").to_owned());
        }
        line.extend(r["cells"].as_array().into_iter().flatten().map(cell_text));
        if has_row_totals {
            line.push(cell_text(&r["total"]));
        }
        if has_median {
            line.push(cell_text(&r["answered"]));
            line.push(match &r["median_hours_to_answer"] {
                serde_json::Value::Number(n) => n.to_string(),
                _ => "-".to_owned(),
            });
        }
        lines.push(line);
    }
    let mut total = vec!["total".to_owned()];
    total.extend((1..dimensions).map(|_| String::new()));
    if has_labels {
        total.push(String::new());
    }
    match t["column_totals"].as_array() {
        Some(totals) => total.extend(totals.iter().map(cell_text)),
        None => total.push(cell_text(&t["total"])),
    }
    if has_row_totals {
        total.push(cell_text(&t["total"]));
    }
    if total.len() > dimensions {
        lines.push(total);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&header, &lines)
}

/// A report's tables as aligned text ([`HIDDEN_COUNT`] marks a hidden count).
fn report_text(report: &serde_json::Value) -> String {
    let mut out = format!(
        "count={} disclosure={}{}\n",
        report["count"].as_str().unwrap_or("?"),
        report["disclosure"].as_str().unwrap_or("?"),
        report["threshold"]
            .as_u64()
            .map(|t| format!(" threshold={t}"))
            .unwrap_or_default()
    );
    if let Some(max) = report["perturbation"]["max_perturbation"].as_u64() {
        out.push_str(&format!(
            "values are perturbed: each within ±{max} of the exact count, none below the \
             threshold but 0, totals perturbed on their own\n"
        ));
    }
    let hidden = report["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t.to_string().contains("\"suppressed\""));
    if hidden {
        out.push_str(&format!(
            "{HIDDEN_COUNT} = hidden: below the threshold, or so that it cannot be worked back \
             from a total\n"
        ));
    }
    for t in report["tables"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} ({}) — {}\n",
            t["title"].as_str().unwrap_or(""),
            t["id"].as_str().unwrap_or(""),
            t["unit"].as_str().unwrap_or("")
        ));
        out.push_str(&table_text(t));
        out.push('\n');
    }
    out
}

pub async fn run_report(
    args: ReportArgs,
    server: &super::ServerUrl,
    out: Output,
) -> anyhow::Result<()> {
    let client = args.connection.client(server)?;
    if args.options {
        let options: ReportOptionsBody = client
            .call(Method::GET, "/v1/reports/options", None::<&()>)
            .await?;
        out.print(&options, || {
            format!(
                "tables: {}\nregions: {}\nagencies: {}\ncount: {}\ndisclosure: {} (yours by default: {})\nthreshold: {}\nduplicate review: {}",
                options.tables.join(", "),
                options.regions.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "),
                options.agencies.join(", "),
                options.count.join(", "),
                options.disclosure.join(", "),
                options.default_disclosure,
                options.threshold,
                if options.review_duplicates { "yes" } else { "no" },
            )
        });
        return Ok(());
    }
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("year", &args.year),
        ("from", &args.from),
        ("to", &args.to),
        ("agency", &args.agency),
        ("country", &args.country),
        ("region", &args.region),
        ("count", &args.count),
        ("disclosure", &args.disclosure),
        ("threshold", &args.threshold),
        ("format", &args.format),
    ] {
        if let Some(v) = value {
            query.push((name, v.clone()));
        }
    }
    let path = match &args.table {
        Some(t) => format!("/v1/reports/{t}"),
        None => "/v1/reports".to_owned(),
    };
    let (content_type, bytes) = client.get_raw(&path, &query).await?;
    let is_json = content_type.starts_with("application/json");
    if let Some(file) = &args.out {
        std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
        let summary =
            serde_json::json!({"written": file.display().to_string(), "bytes": bytes.len()});
        out.print(&summary, || {
            format!("wrote {} ({} bytes)", file.display(), bytes.len())
        });
        return Ok(());
    }
    if !is_json {
        // CSV and HXL go out as they came, with --json or without.
        print!("{}", String::from_utf8_lossy(&bytes));
        return Ok(());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&bytes).context("the server's report is not JSON")?;
    out.print(&report, || report_text(&report));
    Ok(())
}

#[derive(Debug, Args)]
pub struct DuplicatesArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: DuplicatesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DuplicatesCommand {
    /// Probable duplicates for review (names are never shown).
    List {
        /// pending (default), confirmed, rejected or all.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        agency: Option<String>,
        #[arg(long)]
        min_score: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        offset: Option<String>,
    },
    /// The two cases are the same person: they count as one individual.
    Confirm { pair_id: String },
    /// The two cases are different people.
    Reject { pair_id: String },
}

fn side(s: &crate::report_api::PairSideBody) -> String {
    format!(
        "{} {} {}",
        s.agency,
        s.intake_date.as_deref().unwrap_or("-"),
        s.record_id
    )
}

pub async fn run_duplicates(
    args: DuplicatesArgs,
    server: &super::ServerUrl,
    out: Output,
) -> anyhow::Result<()> {
    let client = args.connection.client(server)?;
    match args.command {
        DuplicatesCommand::List {
            status,
            agency,
            min_score,
            limit,
            offset,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            for (name, value) in [
                ("status", status),
                ("agency", agency),
                ("min_score", min_score),
                ("limit", limit),
                ("offset", offset),
            ] {
                if let Some(v) = value {
                    query.push((name, v));
                }
            }
            let (_, bytes) = client.get_raw("/v1/duplicates", &query).await?;
            let list: CandidateListBody =
                serde_json::from_slice(&bytes).context("the server's answer is not a list")?;
            out.print(&list, || {
                let rows: Vec<Vec<String>> = list
                    .candidates
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.score
                                .map(|s| format!("{s:.2}"))
                                .unwrap_or_else(|| "-".into()),
                            c.status.clone(),
                            side(&c.a),
                            side(&c.b),
                        ]
                    })
                    .collect();
                let as_of = match (&list.scanned_at, list.refreshing) {
                    (Some(at), _) if list.first_look.is_some() => format!(
                        " (a first look at {:.1}% of the match blocks, from {at}; \
                         the whole comparison is running)",
                        list.first_look.unwrap_or_default() * 100.0
                    ),
                    (Some(at), true) => {
                        format!(" (found by the scan of {at}; a newer scan is running)")
                    }
                    (Some(at), false) => format!(" (found by the scan of {at})"),
                    (None, _) => String::new(),
                };
                format!(
                    "{}\n{} of {} pairs{as_of}",
                    table(&["PAIR", "SCORE", "STATUS", "A", "B"], &rows),
                    list.candidates.len(),
                    list.total
                )
            });
        }
        DuplicatesCommand::Confirm { pair_id } => decide(&client, &pair_id, "confirm", out).await?,
        DuplicatesCommand::Reject { pair_id } => decide(&client, &pair_id, "reject", out).await?,
    }
    Ok(())
}

async fn decide(
    client: &AdminClient,
    pair_id: &str,
    verb: &str,
    out: Output,
) -> anyhow::Result<()> {
    let path = format!("/v1/duplicates/{pair_id}/{verb}");
    let decided: CandidateBody = client.call(Method::POST, &path, None::<&()>).await?;
    out.print(&decided, || {
        format!(
            "{}: {} and {}",
            decided.status,
            side(&decided.a),
            side(&decided.b)
        )
    });
    Ok(())
}
