//! `fieldcase admin retention …`: how long an agency keeps closed cases, and purging those
//! past it now (the server also purges every hour).

use super::output::Output;
use crate::admin_client::AdminClient;
use crate::api::RetentionBody;
use crate::service::retention::PurgeReport;
use clap::Subcommand;
use reqwest::Method;

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// How many days an agency keeps closed cases.
    Show {
        #[arg(long)]
        agency: String,
    },
    /// Set how many days an agency keeps closed cases (`--keep` to keep them for ever). A
    /// case closed for longer is purged with what hangs on it and dropped by every device at
    /// its next sync; report figures for past periods do not change.
    #[command(group(clap::ArgGroup::new("period").required(true).args(["days", "keep"])))]
    Set {
        #[arg(long)]
        agency: String,
        /// 1 to 36500 days after the case was closed.
        #[arg(long)]
        days: Option<u32>,
        /// Keep closed cases for ever.
        #[arg(long)]
        keep: bool,
    },
    /// Purge every case past its agency's period now (system admin).
    Purge,
}

fn describe(agency: &str, body: &RetentionBody) -> String {
    match body.days {
        Some(days) => format!("{agency} keeps closed cases for {days} days"),
        None => format!("{agency} keeps closed cases for ever"),
    }
}

pub async fn run(
    client: &AdminClient,
    command: RetentionCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Show { agency } => {
            let path = format!("/v1/admin/agencies/{agency}/retention");
            let body: RetentionBody = client.call(Method::GET, &path, None::<&()>).await?;
            out.print(&body, || describe(&agency, &body));
        }
        RetentionCommand::Set { agency, days, keep } => {
            let path = format!("/v1/admin/agencies/{agency}/retention");
            let request = RetentionBody {
                days: if keep { None } else { days },
            };
            let body: RetentionBody = client.call(Method::PUT, &path, Some(&request)).await?;
            out.print(&body, || describe(&agency, &body));
        }
        RetentionCommand::Purge => {
            let report: PurgeReport = client
                .call(Method::POST, "/v1/admin/retention/purge", None::<&()>)
                .await?;
            out.print(&report, || {
                format!(
                    "purged {} cases and {} records that hung on them",
                    report.cases, report.dependents
                )
            });
        }
    }
    Ok(())
}
