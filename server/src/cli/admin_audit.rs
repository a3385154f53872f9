//! `fieldcase admin audit …`: the audit trail of a case or a user, signed checkpoints (make
//! one, export them), and verifying the chain.
//!
//! `trail`, `checkpoint` and `checkpoints` go through the admin API like every other admin
//! command. `verify` does not: it opens the database itself (the data directory's SQLite file,
//! or `--database-url`) with the server key, so a server whose data is in question is not the
//! one asked whether its data is intact. It exits with an error when the chain is broken,
//! naming each position that broke.

use super::output::{table, Output};
use crate::admin_client::AdminClient;
use crate::api::AuditEntryBody;
use crate::server_key::KeySource;
use crate::service::audit_chain::{ExportedCheckpoint, VerifyReport};
use crate::storage::Storage;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Who saw or did what, when: the audit trail of one case or of one user.
    #[command(group(clap::ArgGroup::new("of").required(true).args(["case", "user"])))]
    Trail {
        /// A case id: entries about it, its referrals and its attachments.
        #[arg(long)]
        case: Option<String>,
        /// A user id: entries of that user's acts.
        #[arg(long)]
        user: Option<String>,
    },
    /// Sign a checkpoint of the audit chain now (system admin).
    Checkpoint,
    /// Export every signed checkpoint (system admin) as JSON, to keep outside the server.
    Checkpoints {
        /// Write them to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the whole audit chain offline, against the database itself: every entry matches
    /// its hash, no number is missing, every checkpoint's signature holds, and the chain still
    /// passes through every exported checkpoint given.
    Verify {
        /// The server's data directory (the SQLite database and, by default, the key).
        #[arg(long, env = "FIELDCASE_DATA_DIR", default_value = "./fieldcase-data")]
        data_dir: PathBuf,
        /// The server's PostgreSQL database instead of the data directory's SQLite file.
        #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// The server key file, when it is kept outside the data directory.
        #[arg(long, env = "FIELDCASE_SERVER_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// A command whose output is the server key (as `serve --key-command`).
        #[arg(long, env = "FIELDCASE_SERVER_KEY_COMMAND")]
        key_command: Option<String>,
        /// Checkpoints exported earlier (`audit checkpoints --out FILE`).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

/// Runs the commands that need no admin token (`verify`); `None` for the others.
pub async fn run_offline(command: &AuditCommand, out: Output) -> Option<anyhow::Result<()>> {
    let AuditCommand::Verify {
        data_dir,
        database_url,
        key_file,
        key_command,
        checkpoints,
    } = command
    else {
        return None;
    };
    Some(
        verify(
            data_dir,
            database_url.clone(),
            key_file.clone(),
            key_command.clone(),
            checkpoints.as_deref(),
            out,
        )
        .await,
    )
}

pub async fn run(client: &AdminClient, command: AuditCommand, out: Output) -> anyhow::Result<()> {
    let none = None::<&()>;
    match command {
        AuditCommand::Trail { case, user } => {
            let path = match (case, user) {
                (Some(case), _) => format!("/v1/admin/audit?case={case}"),
                (_, Some(user)) => format!("/v1/admin/audit?user={user}"),
                (None, None) => unreachable!("clap requires one"),
            };
            let entries: Vec<AuditEntryBody> = client.call(Method::GET, &path, none).await?;
            out.print(&entries, || trail_table(&entries));
        }
        AuditCommand::Checkpoint => {
            let made: ExportedCheckpoint = client
                .call(Method::POST, "/v1/admin/audit/checkpoints", none)
                .await?;
            out.print(&made, || {
                format!(
                    "signed checkpoint at entry {} (hash {}); export checkpoints and keep them \
                     outside the server: fieldcase admin audit checkpoints --out FILE",
                    made.seq, made.hash
                )
            });
        }
        AuditCommand::Checkpoints { out: file } => {
            let all: Vec<ExportedCheckpoint> = client
                .call(Method::GET, "/v1/admin/audit/checkpoints", none)
                .await?;
            match file {
                Some(path) => {
                    std::fs::write(&path, serde_json::to_vec_pretty(&all)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                    out.print(&serde_json::json!({ "checkpoints": all.len() }), || {
                        format!("wrote {} checkpoints to {}", all.len(), path.display())
                    });
                }
                None => println!("{}", serde_json::to_string_pretty(&all)?),
            }
        }
        AuditCommand::Verify { .. } => unreachable!("handled before a client is made"),
    }
    Ok(())
}

fn trail_table(entries: &[AuditEntryBody]) -> String {
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            vec![
                e.seq.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                e.at.clone(),
                e.event.clone(),
                e.agency.clone(),
                e.user_id.clone().unwrap_or_else(|| "-".into()),
                e.device_id.clone().unwrap_or_else(|| "-".into()),
                e.record_id.clone().unwrap_or_else(|| "-".into()),
                e.detail.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "SEQ", "AT", "EVENT", "AGENCY", "USER", "DEVICE", "RECORD", "DETAIL",
        ],
        &rows,
    )
}

/// Opens the server's storage as `serve` would, without creating anything.
fn open_storage(
    data_dir: &Path,
    database_url: Option<String>,
    key: KeySource,
) -> anyhow::Result<Arc<dyn Storage>> {
    let key = match key {
        // Never make a new key here: a verify with the wrong directory must fail, not create.
        KeySource::DataDir => KeySource::File(data_dir.join("server.key")),
        other => other,
    };
    let (sealer, _) = key
        .load(&data_dir.join("server.key"))
        .context("loading the server key")?;
    Ok(match database_url {
        Some(url) => Arc::new(crate::storage::postgres::PostgresStorage::connect(
            &url, sealer,
        )?),
        None => {
            let path = data_dir.join("fieldcase.db");
            anyhow::ensure!(
                path.exists(),
                "no database at {} (is --data-dir the server's data directory?)",
                path.display()
            );
            Arc::new(crate::storage::sqlite::SqliteStorage::open(&path, sealer)?)
        }
    })
}

async fn verify(
    data_dir: &Path,
    database_url: Option<String>,
    key_file: Option<PathBuf>,
    key_command: Option<String>,
    checkpoints: Option<&Path>,
    out: Output,
) -> anyhow::Result<()> {
    let exported: Vec<ExportedCheckpoint> = match checkpoints {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("{} is not an export of checkpoints", path.display()))?,
        None => Vec::new(),
    };
    let key = KeySource::choose(key_file, KeySource::env_base64()?, key_command)?;
    let data_dir = data_dir.to_owned();
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<VerifyReport> {
        let storage = open_storage(&data_dir, database_url, key)?;
        let report = crate::service::audit::verify(&*storage, &exported)?;
        storage.close();
        Ok(report)
    })
    .await
    .context("the verification stopped unexpectedly")??;
    out.print(&report, || describe(&report));
    anyhow::ensure!(
        report.intact(),
        "the audit chain is broken at {} position(s), first at entry {}",
        report.break_count,
        report.breaks.first().map(|b| b.position).unwrap_or(0)
    );
    Ok(())
}

fn describe(report: &VerifyReport) -> String {
    let mut text = format!(
        "{} entries, last at {}; {} signed checkpoints verified; {} exported checkpoints \
         compared",
        report.entries, report.last_position, report.checkpoints, report.exported_checked
    );
    if report.intact() {
        text.push_str("\nthe audit chain is intact");
    }
    for b in &report.breaks {
        text.push_str(&format!("\nentry {}: {}", b.position, b.kind.describe()));
    }
    if report.break_count > report.breaks.len() as u64 {
        text.push_str(&format!(
            "\n… and {} more",
            report.break_count - report.breaks.len() as u64
        ));
    }
    text
}
