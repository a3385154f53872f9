//! The `fieldcase` binary: parses the command line and reports errors.

use clap::Parser;
use fieldcase_server::cli::{self, admin::ServerRefused, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let body = match e.downcast_ref::<ServerRefused>() {
                    Some(refused) => serde_json::to_value(&refused.body),
                    None => serde_json::to_value(serde_json::json!({
                        "error": "cli",
                        "message": cli::output::error_message(&e),
                    })),
                }
                .expect("error bodies serialize");
                eprintln!("{body}");
            } else {
                eprintln!("error: {}", cli::output::error_message(&e));
            }
            ExitCode::FAILURE
        }
    }
}
