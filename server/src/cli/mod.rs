//! The `fieldcase` command line.
//!
//! One clap enum ([`Command`]); each subcommand is a sibling module with its own `Args` and
//! `run`, so `device …`, `demo` and `report …` slot in beside [`serve`] and [`admin`] without
//! touching them. Every command takes `--json` for machine-readable output on stdout; errors
//! go to stderr (as an `ErrorBody` JSON object with `--json`) with exit status 1.

pub mod admin;
pub mod admin_audit;
pub mod admin_forms;
pub mod admin_retention;
pub mod admin_tokens;
pub mod demo;
pub mod device;
pub mod output;
pub mod report;
pub mod serve;

use clap::{Parser, Subcommand};
use fieldcase_core::sync::Pin;

#[derive(Debug, Parser)]
#[command(
    name = "fieldcase",
    version,
    about = "fieldcase: the sync server of an agency network, and its administration"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The server's base URL, for every command that talks to one (`admin`, `report`,
    /// `duplicates`, `device enroll`); accepted before or after the subcommand.
    #[arg(long, global = true, env = "FIELDCASE_SERVER")]
    pub server: Option<String>,
    /// Trust only a server whose TLS key has this pin (`sha256/…`, as `fieldcase serve` prints
    /// it): for a server with a self-signed or private certificate. Repeatable.
    #[arg(
        long = "server-pin",
        global = true,
        env = "FIELDCASE_SERVER_PIN",
        value_delimiter = ',',
        value_parser = parse_pin
    )]
    pub server_pins: Vec<Pin>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sync server.
    Serve(serve::ServeArgs),
    /// Administer a running server: agencies, users, enrollment codes, devices.
    Admin(admin::AdminArgs),
    /// A field device on this machine: enroll, record and sync cases offline.
    Device(device::DeviceArgs),
    /// Start a server and simulated field devices of two agencies, record cases offline,
    /// sync them, and show the result.
    Demo(demo::DemoArgs),
    /// Aggregate reports (JSON, CSV, HXL) for a period and scope.
    Report(report::ReportArgs),
    /// Review probable duplicates: list, confirm, reject.
    Duplicates(report::DuplicatesArgs),
}

fn parse_pin(text: &str) -> Result<Pin, String> {
    Pin::parse(text).map_err(|e| e.to_string())
}

/// The `--server` option (or `FIELDCASE_SERVER`) and the `--server-pin`s, as the commands that
/// talk to a server read them.
#[derive(Clone, Debug, Default)]
pub struct ServerUrl {
    url: Option<String>,
    pins: Vec<Pin>,
}

impl ServerUrl {
    pub fn new(url: Option<String>, pins: Vec<Pin>) -> ServerUrl {
        ServerUrl { url, pins }
    }

    /// The pins given (none: the public roots decide).
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    /// Whether a URL was given.
    pub fn given(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Where a server usually runs when none is named: this machine, `fieldcase serve`'s
    /// default port — what an administrator on the server's own machine means.
    pub const LOCAL: &'static str = "http://127.0.0.1:8080";

    /// The URL given, or [`ServerUrl::LOCAL`].
    pub fn or_local(&self) -> &str {
        self.url.as_deref().unwrap_or(Self::LOCAL)
    }

    /// The URL given; an error saying how to give one when none was.
    pub fn required(&self) -> anyhow::Result<&str> {
        self.url.as_deref().ok_or_else(|| {
            anyhow::anyhow!("which server? pass --server URL or set FIELDCASE_SERVER")
        })
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = output::Output { json: cli.json };
    let server = ServerUrl::new(cli.server, cli.server_pins);
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args, out).await,
            Command::Admin(args) => admin::run(args, &server, out).await,
            Command::Device(args) => device::run(args, &server, out).await,
            Command::Demo(args) => demo::run(args, out).await,
            Command::Report(args) => report::run_report(args, &server, out).await,
            Command::Duplicates(args) => report::run_duplicates(args, &server, out).await,
        }
    })
}
