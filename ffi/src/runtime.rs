//! The tokio runtime that runs network calls and key derivations for the apps.
//!
//! Exported `async` functions do not poll core's futures on the app's threads: they hand the
//! work to this runtime and await its result, so the app's coroutine or task (which may be on
//! the UI thread) only ever waits on a join handle. Dropping that wait (a Kotlin coroutine
//! cancelled, a Swift task cancelled) aborts the work at its next await point. Key derivation
//! and store creation are blocking work and go to the runtime's blocking pool.
//!
//! The runtime is made on first use and lives as long as the process; failing to make it is
//! an error, not a panic.

use crate::error::{FieldcaseError, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Worker threads. Syncing waits on the network and applies each page in one short
/// transaction; two workers keep one slow link from stalling another store's sync without
/// spending a phone's cores on idle threads.
pub const WORKER_THREADS: usize = 2;

/// Most threads for blocking work (Argon2 key derivation, store creation). Each derivation
/// holds 64 MiB while it runs; four at once is already more than any app needs.
pub const MAX_BLOCKING_THREADS: usize = 4;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

pub(crate) fn runtime() -> Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let _only_one_builder = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("fieldcase")
        .enable_all()
        .build()
        .map_err(|_| FieldcaseError::internal("could not start fieldcase's background threads"))?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// A join handle that aborts its task when dropped, so cancelling the caller cancels the work.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|error| {
                if error.is_cancelled() {
                    FieldcaseError::cancelled()
                } else {
                    // A panic inside fieldcase: its message is not repeated (it could hold
                    // anything), and the app gets an error instead of a crash.
                    FieldcaseError::internal("a background task of fieldcase failed")
                }
            })
        })
    }
}

/// Runs `future` on the runtime and waits for it; dropping the wait aborts it.
pub(crate) async fn spawn<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    AbortOnDrop(runtime()?.spawn(future)).await
}

/// Runs blocking work (key derivation, file creation) on the runtime's blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    AbortOnDrop(runtime()?.spawn_blocking(work)).await?
}
