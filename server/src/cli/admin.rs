//! `fieldcase admin …`: the admin API from a terminal.
//!
//! The token comes from `--token-file FILE` (e.g. `<data-dir>/admin.token`) or the environment
//! variable `FIELDCASE_ADMIN_TOKEN` — never from a command-line argument, where other users of
//! the machine could read it in the process list.

use super::output::{table, Output};
use crate::admin_client::AdminClient;
pub use crate::admin_client::ServerRefused;
use crate::api::*;
use crate::roles::Role;
use anyhow::Context;
use clap::{Args, Subcommand};
use fieldcase_core::sync::{EnrollmentPayload, Pin};
use reqwest::Method;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// File holding the admin token (default: the FIELDCASE_ADMIN_TOKEN variable).
    #[arg(long, env = "FIELDCASE_ADMIN_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Partner agencies.
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// Users (staff) of agencies.
    #[command(subcommand)]
    User(UserCommand),
    /// Issue a one-time enrollment code for a user's phone.
    EnrollCode {
        /// The user's id (from `user list`).
        #[arg(long)]
        user: String,
        /// Hours until the code expires (default: the server's, 72).
        #[arg(long)]
        expires_hours: Option<u32>,
    },
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Admin tokens for agency admins, and API tokens of users (reports, duplicate review).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Users' API tokens: list them, revoke one.
    #[command(subcommand)]
    ApiToken(super::admin_tokens::ApiTokenCommand),
    /// Enrollment codes: list them, revoke an unused one.
    #[command(subcommand)]
    EnrollCodes(super::admin_tokens::EnrollCodesCommand),
    /// The audit trail of a case or a user; signed checkpoints; verifying the chain.
    #[command(subcommand)]
    Audit(super::admin_audit::AuditCommand),
    /// How long an agency keeps closed cases; purging those past it.
    #[command(subcommand)]
    Retention(super::admin_retention::RetentionCommand),
    /// Form definitions: publish versions for devices, list them, convert XLSForm.
    #[command(subcommand)]
    Form(super::admin_forms::FormCommand),
    /// Copy an embedded server's database into PostgreSQL (run it here, on the server's
    /// machine, with the server stopped); devices keep syncing without re-enrolling.
    MigrateStore {
        /// The embedded server's data directory (holding fieldcase.db and the key).
        #[arg(long, env = "FIELDCASE_DATA_DIR", default_value = "fieldcase-data")]
        data_dir: PathBuf,
        /// An empty PostgreSQL database (`postgres://…`). Prefer the FIELDCASE_DATABASE_URL
        /// variable when the URL holds a password.
        #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Create an agency (system admin).
    Add {
        /// Agency code: 2-32 of a-z, 0-9, _ starting with a letter, e.g. iom_uga.
        code: String,
        /// The agency's name as people read it, e.g. "IOM Uganda".
        #[arg(long)]
        name: String,
    },
    /// The agencies this token may see, with their codes.
    List,
    /// Set the agency's device policy: failed unlocks before a phone's store erases itself,
    /// and days without a sync before it locks (0: never). Phones take it at their next sync.
    DevicePolicy {
        /// The agency's code.
        code: String,
        /// Failed unlocks in a row that erase a phone's store (5-100; default 10).
        #[arg(long)]
        erase_after_failures: u32,
        /// Days a phone's store may go without a sync before it locks (0-365; 0: no lease).
        #[arg(long, default_value_t = 0)]
        lease_days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a member of staff; prints the user id that enrollment codes and API tokens name.
    Add {
        /// The agency the user works for (its code, e.g. iom_uga).
        #[arg(long)]
        agency: String,
        /// caseworker, supervisor, agency_admin, analyst or system_admin.
        #[arg(long)]
        role: Role,
        /// The user's name as colleagues read it.
        #[arg(long)]
        name: String,
    },
    /// Users this token may see, with their ids and roles.
    List {
        /// Only this agency's users.
        #[arg(long)]
        agency: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enrolled devices this token may see: id, agency, user, last sync, revoked or not.
    List {
        /// Only this agency's devices.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revoke a device: at its next sync it is refused and told to wipe itself.
    Revoke { id: String },
    /// Renew a device whose credential expired (too long without a sync): its lifetime
    /// starts again, and its next sync goes through with everything it holds. Check first
    /// that the phone is in its caseworker's hands.
    Renew { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// `--agency A`: an admin token limited to one agency (system admin).
    /// `--user ID`: an API token carrying that user's role and agency, for reports and (with
    /// `--grant review_duplicates`) duplicate review; grants need a system-admin token.
    #[command(group(clap::ArgGroup::new("for").required(true).args(["agency", "user"])))]
    Add {
        #[arg(long)]
        agency: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// exact_counts or review_duplicates (repeatable; analysts and system admins only).
        #[arg(long, requires = "user")]
        grant: Vec<crate::roles::Grant>,
        #[arg(long)]
        label: String,
        /// Days until the token stops working (default: the server's, 90; at most 365).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// `--id ID`: revoke one admin token (from `token list`).
    /// `--user ID`: revoke every API token of a user (a lost laptop, a person who left).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["id", "user"])))]
    Revoke {
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
    /// List admin tokens (ids, labels, expiry, last use; never the secrets).
    List {
        #[arg(long)]
        agency: Option<String>,
    },
    /// Replace the token this command runs with: the server issues a new one with the same
    /// scope and label and revokes the old one (and deletes `<data-dir>/admin.token` if it
    /// held it). The new token replaces the content of `--token-file`, or is printed once
    /// when the token came from the environment or with `--print`.
    Rotate {
        /// Days until the new token stops working (default: the server's, 90).
        #[arg(long)]
        expires_days: Option<u32>,
        /// Print the new token instead of writing it to the token file.
        #[arg(long)]
        print: bool,
    },
}

fn read_token(args: &AdminArgs) -> anyhow::Result<String> {
    let token = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the admin token file {}", path.display()))?,
        None => std::env::var("FIELDCASE_ADMIN_TOKEN").map_err(|_| {
            anyhow::anyhow!(
                "no admin token: pass --token-file <data-dir>/admin.token or set \
                 FIELDCASE_ADMIN_TOKEN"
            )
        })?,
    };
    let token = token.trim().to_owned();
    anyhow::ensure!(!token.is_empty(), "the admin token is empty");
    Ok(token)
}

fn query(agency: &Option<String>) -> String {
    match agency {
        Some(a) => format!("?agency={}", a),
        None => String::new(),
    }
}

pub async fn run(args: AdminArgs, server: &super::ServerUrl, out: Output) -> anyhow::Result<()> {
    if let AdminCommand::Form(super::admin_forms::FormCommand::Convert { input, output }) =
        &args.command
    {
        return super::admin_forms::convert(input, output);
    }
    if let AdminCommand::MigrateStore { data_dir, to } = &args.command {
        return migrate_store(data_dir, to, out).await;
    }
    if let AdminCommand::Audit(command) = &args.command {
        if let Some(done) = super::admin_audit::run_offline(command, out).await {
            return done;
        }
    }
    let client = AdminClient::pinned(server.or_local(), read_token(&args)?, server.pins())?;
    let none = None::<&()>;
    match args.command {
        AdminCommand::Agency(AgencyCommand::Add { code, name }) => {
            let agency: AgencyBody = client
                .call(
                    Method::POST,
                    "/v1/admin/agencies",
                    Some(&NewAgencyBody { code, name }),
                )
                .await?;
            out.print(&agency, || {
                format!("created agency {} ({})", agency.code, agency.name)
            });
        }
        AdminCommand::Agency(AgencyCommand::DevicePolicy {
            code,
            erase_after_failures,
            lease_days,
        }) => {
            let policy = fieldcase_core::device_policy::DevicePolicy {
                erase_after_failures,
                lease_days,
            };
            let set: fieldcase_core::device_policy::DevicePolicy = client
                .call(
                    Method::PUT,
                    &format!("/v1/admin/agencies/{code}/device-policy"),
                    Some(&policy),
                )
                .await?;
            out.print(&set, || {
                format!(
                    "agency {code}: stores erase after {} failed unlocks; {}",
                    set.erase_after_failures,
                    match set.lease_days {
                        0 => "no lease".to_owned(),
                        days => format!("lock after {days} days without a sync"),
                    }
                )
            });
        }
        AdminCommand::Agency(AgencyCommand::List) => {
            let agencies: Vec<AgencyBody> =
                client.call(Method::GET, "/v1/admin/agencies", none).await?;
            out.print(&agencies, || {
                let rows: Vec<_> = agencies
                    .iter()
                    .map(|a| vec![a.code.clone(), a.name.clone(), a.created_at.clone()])
                    .collect();
                table(&["CODE", "NAME", "CREATED"], &rows)
            });
        }
        AdminCommand::User(UserCommand::Add { agency, role, name }) => {
            let body = NewUserBody {
                agency,
                role,
                display_name: name,
            };
            let user: UserBody = client
                .call(Method::POST, "/v1/admin/users", Some(&body))
                .await?;
            out.print(&user, || {
                format!(
                    "created user {} ({}) in {}",
                    user.id, user.role, user.agency
                )
            });
        }
        AdminCommand::User(UserCommand::List { agency }) => {
            let path = format!("/v1/admin/users{}", query(&agency));
            let users: Vec<UserBody> = client.call(Method::GET, &path, none).await?;
            out.print(&users, || {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.clone(),
                            u.agency.clone(),
                            u.role.to_string(),
                            u.display_name.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "AGENCY", "ROLE", "NAME"], &rows)
            });
        }
        AdminCommand::EnrollCode {
            user,
            expires_hours,
        } => {
            let path = format!("/v1/admin/users/{user}/enrollment-codes");
            let code: EnrollmentCodeBody = client
                .call(
                    Method::POST,
                    &path,
                    Some(&NewEnrollmentCodeBody { expires_hours }),
                )
                .await?;
            // What a phone scans: the server, the code and the key pins in one line.
            let payload = EnrollmentPayload {
                server: server.or_local().to_owned(),
                code: code.code.clone(),
                pins: if code.pins.is_empty() {
                    server.pins().to_vec()
                } else {
                    code.pins
                        .iter()
                        .filter_map(|pin| Pin::parse(pin).ok())
                        .collect()
                },
            };
            let payload = payload.to_text();
            let mut json = serde_json::to_value(&code)?;
            json["enrollment_payload"] = payload.clone().into();
            out.print(&json, || {
                format!(
                    "enrollment code: {}\nfor user {} of {}, valid until {} (id {})\n\
                         It is shown only once and works once; give it to the user in person.\n\
                         For a QR code (it carries the server and its key pin too):\n{payload}",
                    code.code, code.user_id, code.agency, code.expires_at, code.id
                )
            });
        }
        AdminCommand::Device(DeviceCommand::List { agency }) => {
            let path = format!("/v1/admin/devices{}", query(&agency));
            let devices: Vec<DeviceBody> = client.call(Method::GET, &path, none).await?;
            out.print(&devices, || {
                let rows: Vec<_> = devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.clone(),
                            d.agency.clone(),
                            d.user_id.clone(),
                            d.label.clone(),
                            d.last_seen_at.clone().unwrap_or_else(|| "never".into()),
                            d.last_seq.to_string(),
                            d.revoked_at.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "AGENCY",
                        "USER",
                        "LABEL",
                        "LAST SEEN",
                        "LAST SEQ",
                        "REVOKED",
                    ],
                    &rows,
                )
            });
        }
        AdminCommand::Device(DeviceCommand::Revoke { id }) => {
            let path = format!("/v1/admin/devices/{id}/revoke");
            let device: DeviceBody = client.call(Method::POST, &path, none).await?;
            out.print(&device, || {
                format!(
                    "revoked device {}; at its next sync it is refused and told to wipe itself",
                    device.id
                )
            });
        }
        AdminCommand::Device(DeviceCommand::Renew { id }) => {
            let path = format!("/v1/admin/devices/{id}/renew");
            let device: DeviceBody = client.call(Method::POST, &path, none).await?;
            out.print(&device, || {
                format!(
                    "renewed device {}; its credential works again and rotates at its next sync",
                    device.id
                )
            });
        }
        AdminCommand::Form(command) => super::admin_forms::run(&client, command, out).await?,
        AdminCommand::Audit(command) => super::admin_audit::run(&client, command, out).await?,
        AdminCommand::Retention(command) => {
            super::admin_retention::run(&client, command, out).await?
        }
        AdminCommand::MigrateStore { .. } => unreachable!("handled before a client is made"),
        AdminCommand::ApiToken(command) => {
            super::admin_tokens::run_api_tokens(&client, command, out).await?
        }
        AdminCommand::EnrollCodes(command) => {
            super::admin_tokens::run_enroll_codes(&client, command, out).await?
        }
        AdminCommand::Token(TokenCommand::List { agency }) => {
            super::admin_tokens::list_admin_tokens(&client, agency, out).await?
        }
        AdminCommand::Token(TokenCommand::Revoke { id: Some(id), .. }) => {
            super::admin_tokens::revoke_admin_token(&client, &id, out).await?
        }
        AdminCommand::Token(TokenCommand::Rotate {
            expires_days,
            print,
        }) => {
            let write_to = args.token_file.as_deref().filter(|_| !print);
            super::admin_tokens::rotate(&client, expires_days, write_to, out).await?
        }
        AdminCommand::Token(TokenCommand::Add {
            user: Some(user),
            grant,
            label,
            expires_days,
            ..
        }) => {
            let path = format!("/v1/admin/users/{user}/api-tokens");
            let body = crate::report_api::NewApiTokenBody {
                label,
                grants: grant,
                expires_days,
            };
            let token: crate::report_api::ApiTokenBody =
                client.call(Method::POST, &path, Some(&body)).await?;
            out.print(&token, || {
                format!(
                    "API token {} for user {} ({} of {}), valid until {}{}: {}\n\
                     It is shown only once.",
                    token.id,
                    token.user_id,
                    token.role,
                    token.agency,
                    token.expires_at,
                    token
                        .limited_to
                        .as_deref()
                        .map(|a| format!(", reports limited to {a}"))
                        .unwrap_or_default(),
                    token.token
                )
            });
        }
        AdminCommand::Token(TokenCommand::Revoke {
            user: Some(user), ..
        }) => {
            let path = format!("/v1/admin/users/{user}/api-tokens/revoke");
            let revoked: crate::report_api::RevokedApiTokensBody =
                client.call(Method::POST, &path, none).await?;
            out.print(&revoked, || {
                format!(
                    "revoked {} API token(s) of user {}",
                    revoked.revoked, revoked.user_id
                )
            });
        }
        AdminCommand::Token(TokenCommand::Revoke { .. }) => {
            anyhow::bail!("give --id or --user")
        }
        AdminCommand::Token(TokenCommand::Add {
            agency,
            label,
            expires_days,
            ..
        }) => {
            let agency = agency.context("give --agency or --user")?;
            let token: AdminTokenBody = client
                .call(
                    Method::POST,
                    "/v1/admin/tokens",
                    Some(&NewAdminTokenBody {
                        agency,
                        label,
                        expires_days,
                    }),
                )
                .await?;
            out.print(&token, || {
                format!(
                    "admin token {} for agency {}, valid until {}: {}\nIt is shown only once.",
                    token.id,
                    token.agency.as_deref().unwrap_or("(network)"),
                    token.expires_at,
                    token.token
                )
            });
        }
    }
    Ok(())
}

/// `admin migrate-store`: the copy runs on a blocking thread (both database clients block),
/// printing each table as it is done.
async fn migrate_store(data_dir: &std::path::Path, to: &str, out: Output) -> anyhow::Result<()> {
    let source = data_dir.join("fieldcase.db");
    anyhow::ensure!(
        source.exists(),
        "no embedded database at {} (is --data-dir the server's data directory?)",
        source.display()
    );
    let to = to.to_owned();
    let json = out.json;
    let reports = tokio::task::spawn_blocking(move || {
        crate::storage::migrate::sqlite_to_postgres(&source, &to, |report| {
            if !json {
                eprintln!(
                    "{:<22} {:>10} rows{}",
                    report.table,
                    report.rows,
                    if report.resumed {
                        " (copied by an earlier run)"
                    } else {
                        ""
                    }
                );
            }
        })
    })
    .await
    .context("the migration stopped unexpectedly")??;
    let total: u64 = reports.iter().map(|r| r.rows).sum();
    let summary = serde_json::json!({
        "tables": reports.len(),
        "rows": total,
        "verified": true,
    });
    out.print(&summary, || {
        format!(
            "copied and verified {} tables, {total} rows (counts and checksums match); start \
             `fieldcase serve --database-url …` with the same data directory",
            reports.len()
        )
    });
    Ok(())
}
