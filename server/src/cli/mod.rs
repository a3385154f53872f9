//! The `fieldcase` command line.
//!
//! One clap enum ([`Command`]); each subcommand is a sibling module with its own `Args` and
//! `run`, so `device …`, `demo` and `report …` slot in beside [`serve`] and [`admin`] without
//! touching them. Every command takes `--json` for machine-readable output on stdout; errors
//! go to stderr (as an `ErrorBody` JSON object with `--json`) with exit status 1.

pub mod admin;
pub mod admin_forms;
pub mod admin_tokens;
pub mod demo;
pub mod device;
pub mod output;
pub mod report;
pub mod serve;

use clap::{Parser, Subcommand};

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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = output::Output { json: cli.json };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args, out).await,
            Command::Admin(args) => admin::run(args, out).await,
            Command::Device(args) => device::run(args, out).await,
            Command::Demo(args) => demo::run(args, out).await,
            Command::Report(args) => report::run_report(args, out).await,
            Command::Duplicates(args) => report::run_duplicates(args, out).await,
        }
    })
}
