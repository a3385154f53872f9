//! `fieldcase admin token list|revoke --id|rotate`, `admin api-token …`, `admin enroll-codes …`:
//! listing, revoking and rotating credentials.
//!
//! Listings show ids, labels, scopes and times, never a secret (the server does not send
//! one). Rotation writes the new token over the token file it read the old one from, whole or
//! not at all and owner-only, so a script using `--token-file` keeps working.

use super::output::{table, Output};
use crate::admin_client::AdminClient;
use crate::api::*;
use crate::report_api::ApiTokenInfoBody;
use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// List users' API tokens (ids, users, grants, expiry, last use; never the secrets).
    List {
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revoke one API token (from `api-token list`); it stops working on its next request.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum EnrollCodesCommand {
    /// List enrollment codes (ids, users, expiry, use; never the codes).
    List {
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revoke an unused enrollment code (from `enroll-codes list`): it can no longer enroll.
    Revoke { id: String },
}

fn query(agency: &Option<String>) -> String {
    agency
        .as_ref()
        .map(|a| format!("?agency={a}"))
        .unwrap_or_default()
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

fn admin_token_rows(tokens: &[AdminTokenInfoBody]) -> String {
    let rows: Vec<_> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.agency.clone().unwrap_or_else(|| "(system)".into()),
                t.label.clone(),
                t.created_at.clone(),
                t.expires_at.clone(),
                t.last_used_at.clone().unwrap_or_else(|| "never".into()),
                or_dash(&t.revoked_at),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "AGENCY",
            "LABEL",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "REVOKED",
        ],
        &rows,
    )
}

pub async fn list_admin_tokens(
    client: &AdminClient,
    agency: Option<String>,
    out: Output,
) -> anyhow::Result<()> {
    let path = format!("/v1/admin/tokens{}", query(&agency));
    let tokens: Vec<AdminTokenInfoBody> = client.call(Method::GET, &path, None::<&()>).await?;
    out.print(&tokens, || admin_token_rows(&tokens));
    Ok(())
}

pub async fn revoke_admin_token(client: &AdminClient, id: &str, out: Output) -> anyhow::Result<()> {
    let path = format!("/v1/admin/tokens/{id}/revoke");
    let token: AdminTokenInfoBody = client.call(Method::POST, &path, None::<&()>).await?;
    out.print(&token, || {
        format!(
            "revoked admin token {} ({}); it stops working on its next request",
            token.id, token.label
        )
    });
    Ok(())
}

/// Rotates the caller's token; writes the new one to `write_to` when given, else prints it.
pub async fn rotate(
    client: &AdminClient,
    expires_days: Option<u32>,
    write_to: Option<&Path>,
    out: Output,
) -> anyhow::Result<()> {
    let mut token: AdminTokenBody = client
        .call(
            Method::POST,
            "/v1/admin/tokens/rotate",
            Some(&RotateAdminTokenBody { expires_days }),
        )
        .await?;
    let scope = token.agency.clone().unwrap_or_else(|| "system".into());
    match write_to {
        Some(path) => {
            crate::fsutil::write_secret_file(path, format!("{}\n", token.token).as_bytes())
                .with_context(|| {
                    format!(
                        "the old token is revoked, but writing the new one to {} failed",
                        path.display()
                    )
                })?;
            // Written to the file: not repeated on the terminal or in logs of scripts.
            token.token = String::new();
            out.print(&token, || {
                format!(
                    "rotated the {scope} admin token: new token {} (valid until {}) written to \
                     {}; the old one no longer works",
                    token.id,
                    token.expires_at,
                    path.display()
                )
            });
        }
        None => out.print(&token, || {
            format!(
                "rotated the {scope} admin token; the old one no longer works.\n\
                 new token {} (valid until {}): {}\nIt is shown only once.",
                token.id, token.expires_at, token.token
            )
        }),
    }
    Ok(())
}

pub async fn run_api_tokens(
    client: &AdminClient,
    command: ApiTokenCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        ApiTokenCommand::List { agency } => {
            let path = format!("/v1/admin/api-tokens{}", query(&agency));
            let tokens: Vec<ApiTokenInfoBody> =
                client.call(Method::GET, &path, None::<&()>).await?;
            out.print(&tokens, || {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        let grants: Vec<_> = t.grants.iter().map(|g| g.as_str()).collect();
                        vec![
                            t.id.clone(),
                            t.user_id.clone(),
                            t.agency.clone(),
                            t.role.to_string(),
                            t.limited_to.clone().unwrap_or_else(|| "-".into()),
                            grants.join(","),
                            t.label.clone(),
                            t.expires_at.clone(),
                            t.last_used_at.clone().unwrap_or_else(|| "never".into()),
                            or_dash(&t.revoked_at),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "USER",
                        "AGENCY",
                        "ROLE",
                        "LIMITED TO",
                        "GRANTS",
                        "LABEL",
                        "EXPIRES",
                        "LAST USED",
                        "REVOKED",
                    ],
                    &rows,
                )
            });
        }
        ApiTokenCommand::Revoke { id } => {
            let path = format!("/v1/admin/api-tokens/{id}/revoke");
            let token: ApiTokenInfoBody = client.call(Method::POST, &path, None::<&()>).await?;
            out.print(&token, || {
                format!(
                    "revoked API token {} of user {}; it stops working on its next request",
                    token.id, token.user_id
                )
            });
        }
    }
    Ok(())
}

pub async fn run_enroll_codes(
    client: &AdminClient,
    command: EnrollCodesCommand,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        EnrollCodesCommand::List { agency } => {
            let path = format!("/v1/admin/enrollment-codes{}", query(&agency));
            let codes: Vec<EnrollmentCodeInfoBody> =
                client.call(Method::GET, &path, None::<&()>).await?;
            out.print(&codes, || {
                let rows: Vec<_> = codes
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.user_id.clone(),
                            c.agency.clone(),
                            c.created_at.clone(),
                            c.expires_at.clone(),
                            or_dash(&c.used_at),
                            or_dash(&c.revoked_at),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID", "USER", "AGENCY", "CREATED", "EXPIRES", "USED", "REVOKED",
                    ],
                    &rows,
                )
            });
        }
        EnrollCodesCommand::Revoke { id } => {
            let path = format!("/v1/admin/enrollment-codes/{id}/revoke");
            let code: EnrollmentCodeInfoBody =
                client.call(Method::POST, &path, None::<&()>).await?;
            out.print(&code, || match &code.used_at {
                Some(used) => format!(
                    "enrollment code {} was already used at {used}; revoke its device instead",
                    code.id
                ),
                None => format!(
                    "revoked enrollment code {}; it can no longer enroll a device",
                    code.id
                ),
            });
        }
    }
    Ok(())
}
