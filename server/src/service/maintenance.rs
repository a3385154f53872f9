//! The server's housekeeping, run by `fieldcase serve` every
//! [`crate::config::MAINTENANCE_INTERVAL`] (and on demand by admin commands): purge closed
//! cases past their agency's retention period ([`super::retention`]), then sign an audit
//! checkpoint when entries were added since the last one.
//!
//! Each step is its own transaction and safe to run again, on any number of server processes
//! at once (a second checkpoint of the same head vouches for nothing new but does no harm).

use crate::storage::{Storage, StorageError};
use crate::time::TimeSource;
use std::sync::Arc;
use std::time::Duration;

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// What the retention purge did.
    pub purged: super::retention::PurgeReport,
    /// The sequence number of the checkpoint signed, if one was.
    pub checkpoint: Option<u64>,
}

/// One round of housekeeping.
pub fn run_once(storage: &dyn Storage, now_ms: u64) -> Result<Housekeeping, StorageError> {
    let mut done = Housekeeping {
        purged: super::retention::purge_expired(storage, now_ms)?,
        ..Housekeeping::default()
    };
    if super::audit::needs_checkpoint(storage)? {
        done.checkpoint = super::audit::checkpoint_now(storage, now_ms)?.map(|c| c.seq);
    }
    Ok(done)
}

/// Runs [`run_once`] every `interval`, the first time one interval after start, until the
/// task is dropped. A failed round is logged and the next one tries again.
pub async fn every(storage: Arc<dyn Storage>, time: Arc<dyn TimeSource>, interval: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let storage = storage.clone();
        let now = time.now_ms();
        match tokio::task::spawn_blocking(move || run_once(&*storage, now)).await {
            Ok(Ok(done)) => {
                if done.purged.cases > 0 {
                    tracing::info!(
                        cases = done.purged.cases,
                        dependents = done.purged.dependents,
                        "purged closed cases past their retention period"
                    );
                }
                if let Some(seq) = done.checkpoint {
                    tracing::info!(seq, "signed an audit checkpoint");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed; trying again later"),
            Err(_) => tracing::error!("housekeeping stopped unexpectedly"),
        }
    }
}
