//! Retrying a failed sync with exponential backoff and jitter, on its own.

use super::client::{sync_once, SyncClient, SyncError, SyncOutcome};
use crate::store::{Store, SyncProgress};
use std::sync::Mutex;
use std::time::Duration;

/// When to try again after a transient failure.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First wait; doubled after every failure. Two seconds rides out a dropped packet burst
    /// without hammering a server that is restarting.
    pub initial_backoff: Duration,
    /// Longest wait between attempts: a phone should notice a returned network within minutes.
    pub max_backoff: Duration,
    /// Attempts before giving up; `None` keeps trying (a background sync loop).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            max_attempts: Some(8),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (0-based), with ±25% jitter so many phones
    /// regaining a network at once do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
        let capped = base.min(self.max_backoff);
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        capped.mul_f64(jitter).min(self.max_backoff)
    }
}

/// Runs [`sync_once`] until it succeeds, a permanent error occurs, or the attempts run out.
pub async fn sync_with_retry(
    store: &Mutex<Store>,
    client: &SyncClient,
    policy: &RetryPolicy,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
) -> Result<SyncOutcome, SyncError> {
    let mut attempt = 0;
    loop {
        match sync_once(store, client, progress).await {
            Err(error)
                if error.is_transient()
                    && policy.max_attempts.is_none_or(|max| attempt + 1 < max) =>
            {
                let wait = policy.backoff(attempt);
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, %error, "sync failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: None,
        };
        assert!(policy.backoff(0) <= Duration::from_millis(1250));
        assert!(policy.backoff(3) >= Duration::from_secs(6));
        assert!(policy.backoff(30) <= Duration::from_secs(60));
    }
}
