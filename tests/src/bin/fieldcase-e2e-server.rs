//! The real `fieldcase` command line, built into this crate so integration tests can start
//! the server as a separate OS process (`env!("CARGO_BIN_EXE_fieldcase-e2e-server")`) and
//! SIGKILL it. It runs exactly what `server/src/main.rs` runs; nothing here is test-only.

use clap::Parser;
use fieldcase_server::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
