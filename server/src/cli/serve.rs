//! `fieldcase serve`: runs the sync server until SIGTERM or ctrl-c.
//!
//! With `--tls-cert`/`--tls-key` it serves HTTPS ([`crate::tls`]) and prints the certificate
//! key's pin, which enrollment codes carry to devices.
//!
//! Prints `listening on http://ADDR` on stdout (flushed) once the socket is bound — with
//! `--listen 127.0.0.1:0` that line carries the port the OS chose, which is how scripts and
//! tests find it. Logs go to stderr, as text or (`--log-format json`) one JSON object a line.

use super::output::Output;
use crate::config::{ServerConfig, DEFAULT_ENROLLMENT_CODE_HOURS, MAX_ENROLLMENT_CODE_HOURS};
use crate::server::Server;
use crate::server_key::KeySource;
use crate::time::SystemTimeSource;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory for the database, the server key and the first admin token.
    #[arg(long, env = "FIELDCASE_DATA_DIR", default_value = "./fieldcase-data")]
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 lets the OS choose (the real one is printed).
    #[arg(long, env = "FIELDCASE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The at-rest key file (32 raw bytes), best kept outside the data directory. Without
    /// this, FIELDCASE_SERVER_KEY (the key, base64) or --key-command, the key is
    /// <data-dir>/server.key, created on first start.
    #[arg(long, env = "FIELDCASE_SERVER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// A command run once at start (through `sh -c`) whose standard output is the key: 32
    /// raw bytes or their base64. For a KMS or secret manager, e.g.
    /// `aws kms decrypt … --query Plaintext --output text`.
    #[arg(long, env = "FIELDCASE_SERVER_KEY_COMMAND")]
    pub key_command: Option<String>,
    /// Log format on stderr.
    #[arg(long, env = "FIELDCASE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Default validity of enrollment codes, in hours.
    #[arg(
        long,
        env = "FIELDCASE_ENROLLMENT_CODE_HOURS",
        default_value_t = DEFAULT_ENROLLMENT_CODE_HOURS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ENROLLMENT_CODE_HOURS)),
    )]
    pub enrollment_code_hours: u32,
    /// Suppression threshold of reports that leave the network (public, CSV, HXL): counts
    /// below it are hidden. Requests may raise it, never lower it.
    #[arg(
        long,
        env = "FIELDCASE_REPORT_THRESHOLD",
        default_value_t = crate::config::DEFAULT_REPORT_THRESHOLD,
        value_parser = clap::value_parser!(u64).range(2..=1000),
    )]
    pub report_threshold: u64,
    /// A file holding a token (at least 32 characters) that may read /metrics and nothing
    /// else, for a Prometheus scraper. Without it, /metrics needs a system-admin token.
    #[arg(long, env = "FIELDCASE_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Address of a reverse proxy in front of the server (repeatable, or comma-separated in
    /// the variable): failed logins are counted per client it names in X-Forwarded-For
    /// rather than per proxy. Never list an address clients can connect from directly.
    #[arg(
        long = "trusted-proxy",
        env = "FIELDCASE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Keep the data in PostgreSQL (`postgres://user@host/db`, or a `key=value` connection
    /// string) instead of the embedded SQLite file in --data-dir, so several server processes
    /// can share it. The server key and first admin token stay in --data-dir. Prefer the
    /// environment variable when the URL holds a password (command lines are visible to other
    /// users of the machine).
    #[arg(long, env = "FIELDCASE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Reloaded
    /// when the file changes or on SIGHUP, without a restart.
    #[arg(long, env = "FIELDCASE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "FIELDCASE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Pin (`sha256/…`) of a key the server will move to, given to devices at enrollment
    /// beside the current key's so a planned key change does not lock them out. Repeatable.
    #[arg(long = "tls-backup-pin", env = "FIELDCASE_TLS_BACKUP_PINS", value_delimiter = ',', value_parser = parse_pin)]
    pub tls_backup_pins: Vec<fieldcase_core::sync::Pin>,
    /// Days a device credential lives without a sync (each sync rotates it, so a device that
    /// syncs at least this often never expires; an expired one is renewed by an admin).
    #[arg(
        long,
        env = "FIELDCASE_CREDENTIAL_DAYS",
        default_value_t = crate::service::credentials::DEFAULT_CREDENTIAL_DAYS,
        value_parser = clap::value_parser!(u32).range(2..=3650),
    )]
    pub credential_days: u32,
}

fn parse_pin(text: &str) -> Result<fieldcase_core::sync::Pin, String> {
    fieldcase_core::sync::Pin::parse(text).map_err(|e| e.to_string())
}

/// Logs to stderr; `RUST_LOG` overrides the default `info` filter.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub async fn run(args: ServeArgs, out: Output) -> anyhow::Result<()> {
    init_tracing(args.log_format);
    let metrics_token = match &args.metrics_token_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading the metrics token file {}: {e}", path.display())
        })?),
        None => None,
    };
    let key = KeySource::choose(args.key_file, KeySource::env_base64()?, args.key_command)?;
    let config = ServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        key,
        enrollment_code_hours: args.enrollment_code_hours,
        time: Arc::new(SystemTimeSource),
        report_threshold: args.report_threshold,
        metrics_token,
        trusted_proxies: args.trusted_proxies,
        request_timeout: crate::config::REQUEST_TIMEOUT,
        header_read_timeout: crate::config::HEADER_READ_TIMEOUT,
        database_url: args.database_url,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(certificate), Some(key)) => Some(crate::tls::TlsFiles { certificate, key }),
            _ => None,
        },
        tls_backup_pins: args.tls_backup_pins,
        tls_reload_interval: crate::tls::RELOAD_CHECK_INTERVAL,
        credential_policy: crate::service::credentials::CredentialPolicy::days(
            args.credential_days,
        ),
        maintenance_interval: crate::config::MAINTENANCE_INTERVAL,
    };
    let admin_token_path = config.admin_token_path();
    let server = Server::bind(config).await?;
    let stop =
        shutdown_signal().map_err(|e| anyhow::anyhow!("registering for the stop signals: {e}"))?;
    let url = format!("{}://{}", server.scheme(), server.local_addr());
    let token_written = server.admin_token_written().is_some();
    let pin = server.tls_pin();
    out.line(
        &serde_json::json!({
            "event": "listening",
            "url": url,
            "tls_pin": pin.map(|p| p.to_string()),
            "admin_token_file": token_written.then(|| admin_token_path.display().to_string()),
        }),
        || {
            let mut text = format!("listening on {url}");
            if let Some(pin) = pin {
                text.push_str(&format!(
                    "
TLS certificate key pin: {pin}"
                ));
            }
            if token_written {
                text.push_str(&format!(
                    "\nsystem admin token written to {}; it expires in {} days. Copy it \
                     somewhere only you can read and rotate it now: fieldcase admin \
                     --token-file <copy> token rotate (this deletes the file)",
                    admin_token_path.display(),
                    crate::config::DEFAULT_TOKEN_DAYS
                ));
            }
            text
        },
    );
    tracing::info!(url = %url, "listening");
    server.run(stop).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Registers for ctrl-c and SIGTERM at once and resolves when either comes. Registered before
/// the server says it is listening: a handler first registered when the server's shutdown
/// future is first polled left a moment after "listening on" in which a SIGTERM (from a
/// supervisor, or a test) took the default action and killed the process instead of stopping
/// it.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
