//! A device as its own OS process, so a test can SIGKILL it in the middle of a pull.
//!
//! Opens the store at `FIELDCASE_E2E_STORE` with the passphrase in `FIELDCASE_E2E_PASSPHRASE`
//! (full durability, as on a phone), then runs one `sync_once` against the server the store
//! was enrolled with, asking for pages of [`PULL_LIMIT`] operations so a backlog takes many
//! requests. After every applied reply it prints `progress pulled=N more=BOOL` on stdout
//! (flushed), and `done pulled=N` when the sync completes. Exit status 1 and a message on
//! stderr when anything fails.

use fieldcase_core::store::{OpenOptions, Store};
use fieldcase_core::sync::{sync_once, SyncClient};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

/// Operations per pull page: small, so that a kill lands between, or inside, page writes.
const PULL_LIMIT: u32 = 50;

fn main() -> ExitCode {
    match run() {
        Ok(pulled) => {
            println!("done pulled={pulled}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<u64> {
    let path = PathBuf::from(
        std::env::var_os("FIELDCASE_E2E_STORE")
            .ok_or_else(|| anyhow::anyhow!("FIELDCASE_E2E_STORE must name the store file"))?,
    );
    let passphrase = std::env::var("FIELDCASE_E2E_PASSPHRASE")
        .map_err(|_| anyhow::anyhow!("FIELDCASE_E2E_PASSPHRASE must be set"))?;
    let store = Store::open(&path, &passphrase, None, &OpenOptions::default())?;
    let client = SyncClient::for_store(&store)?.with_pull_limit(PULL_LIMIT);
    let store = Mutex::new(store);
    // Multi-threaded like the CLI's and the mobile facade's, so the next page is fetched
    // while this one is applied and kills land in that overlap too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(sync_once(&store, &client, &|progress| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "progress pulled={} more={}",
            progress.pulled, progress.more_to_pull
        );
        let _ = out.flush();
    }))?;
    Ok(outcome.pulled)
}
