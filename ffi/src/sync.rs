//! Enrollment and sync for the apps: `suspend fun` in Kotlin, `async` in Swift.
//!
//! Both run core's code (`fieldcase_core::sync`) on the facade's runtime. A sync reports
//! progress, and a remote wipe, through a [`SyncObserver`] the app implements; the app may
//! cancel it with [`FieldcaseStore::cancel_sync`] or by cancelling its coroutine or task.
//! Either way the sync stops at its next network wait: what it already applied stays applied
//! (each page is applied with its cursor in one transaction), the rest comes next time.
//!
//! One sync runs per store at a time; a second call fails with `SyncInProgress` rather than
//! racing the first for the same outbox.

use crate::error::{FieldcaseError, Result};
use crate::runtime::{blocking, spawn};
use crate::store::{lock, FieldcaseStore};
use fieldcase_core::crypto::envelope::MIN_EXTRA_SECRET_LEN;
use fieldcase_core::crypto::{CryptoError, KdfParams};
use fieldcase_core::store::{Identity, OpenOptions, Store, StoreError};
use fieldcase_core::sync::{
    sync_once, sync_with_retry, RetryPolicy, SyncClient, SyncError, SyncOutcome as CoreOutcome,
};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// Progress of a running sync, for a progress bar.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct SyncProgress {
    /// Local changes the server has acknowledged so far, of `to_push`.
    pub pushed: u64,
    pub to_push: u64,
    /// Changes from other devices applied so far.
    pub pulled: u64,
    /// Whether the server said more is waiting.
    pub more_to_pull: bool,
    /// 0.0 to 1.0; stays below 1.0 while more is waiting.
    pub fraction: f64,
}

/// What a completed sync did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncOutcome {
    pub requests: u64,
    pub pushed: u64,
    pub rejected: u64,
    pub pulled: u64,
    /// Referral transitions asked for on this device that the server applied / refused
    /// (a refusal is shown on the referral: `ReferralRecord.last_rejection`).
    pub transitions_applied: u64,
    pub transitions_refused: u64,
    pub new_conflicts: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// What the app hears while a sync runs. Called on a fieldcase thread, not the UI thread:
/// post to the UI from here. An exception thrown here is ignored (logged nowhere) and does
/// not stop the sync.
#[uniffi::export(with_foreign)]
pub trait SyncObserver: Send + Sync {
    /// After each request, and once before the first.
    fn on_progress(&self, progress: SyncProgress) -> Result<(), FieldcaseError>;
    /// The agency revoked this device and its store has been wiped (the files are gone).
    /// Drop everything shown from it and return to enrollment. The sync then fails with
    /// `Revoked`.
    fn on_remote_wipe(&self) -> Result<(), FieldcaseError>;
}

impl From<&fieldcase_core::store::SyncProgress> for SyncProgress {
    fn from(progress: &fieldcase_core::store::SyncProgress) -> Self {
        SyncProgress {
            pushed: progress.pushed,
            to_push: progress.to_push,
            pulled: progress.pulled,
            more_to_pull: progress.more_to_pull,
            fraction: progress.fraction(),
        }
    }
}

impl From<CoreOutcome> for SyncOutcome {
    fn from(outcome: CoreOutcome) -> Self {
        SyncOutcome {
            requests: outcome.requests as u64,
            pushed: outcome.pushed,
            rejected: outcome.rejected,
            pulled: outcome.pulled,
            transitions_applied: outcome.commands_applied,
            transitions_refused: outcome.commands_rejected,
            new_conflicts: outcome.new_conflicts as u64,
            bytes_sent: outcome.bytes_sent,
            bytes_received: outcome.bytes_received,
        }
    }
}

/// Exchanges a one-time enrollment code for a device credential, then creates the store at
/// `store_path` for the enrolled user, unlocked. `extra_secret`, if given (at least 16 bytes,
/// kept in the Android Keystore / iOS Keychain), is needed with the passphrase ever after.
///
/// The code works once: everything that can be checked before it is spent (no store at the
/// path yet, the extra secret long enough, the server address) is checked first. The address
/// must be `https://`, or `http://` to this device (127.0.0.1, `::1`, `localhost`); anything
/// else is `Invalid` on `server_url` and nothing is sent.
///
/// `code` may also be the whole enrollment payload an administrator's QR code carries
/// (`fieldcase-enroll:v1?server=…&code=…&pin=…`): the server then comes from it (`server_url`
/// empty, or the same address), and the store trusts only the TLS keys it pins, for
/// enrollment and every sync after.
#[uniffi::export]
pub async fn enroll(
    server_url: String,
    code: String,
    device_label: String,
    store_path: String,
    passphrase: String,
    extra_secret: Option<Vec<u8>>,
) -> Result<Arc<FieldcaseStore>> {
    let credentials = Credentials::new(passphrase, extra_secret);
    enroll_with(
        server_url,
        code,
        device_label,
        store_path,
        credentials,
        KdfParams::DEFAULT,
    )
    .await
}

/// Test builds only: [`enroll`] with cheap key derivation. Absent from a shipped library.
#[cfg(feature = "insecure-test-kdf")]
#[uniffi::export]
pub async fn enroll_with_insecure_fast_kdf(
    server_url: String,
    code: String,
    device_label: String,
    store_path: String,
    passphrase: String,
    extra_secret: Option<Vec<u8>>,
) -> Result<Arc<FieldcaseStore>> {
    let credentials = Credentials::new(passphrase, extra_secret);
    enroll_with(
        server_url,
        code,
        device_label,
        store_path,
        credentials,
        KdfParams::insecure_fast_for_tests(),
    )
    .await
}

/// A passphrase and extra secret, zeroized when dropped.
struct Credentials {
    passphrase: Zeroizing<String>,
    extra_secret: Option<Zeroizing<Vec<u8>>>,
}

impl Credentials {
    fn new(passphrase: String, extra_secret: Option<Vec<u8>>) -> Self {
        Credentials {
            passphrase: Zeroizing::new(passphrase),
            extra_secret: extra_secret.map(Zeroizing::new),
        }
    }
}

async fn enroll_with(
    server_url: String,
    code: String,
    device_label: String,
    store_path: String,
    credentials: Credentials,
    kdf: KdfParams,
) -> Result<Arc<FieldcaseStore>> {
    let path = PathBuf::from(store_path);
    if path.exists() {
        return Err(StoreError::AlreadyExists.into());
    }
    if credentials
        .extra_secret
        .as_ref()
        .is_some_and(|secret| secret.len() < MIN_EXTRA_SECRET_LEN)
    {
        return Err(StoreError::from(CryptoError::WeakExtraSecret(MIN_EXTRA_SECRET_LEN)).into());
    }
    kdf.check().map_err(StoreError::from)?;
    let (server_url, code, pins) = enrollment_target(server_url, code)?;
    let url = server_url.clone();
    let enroll_pins = pins.clone();
    let enrolled = spawn(async move {
        fieldcase_core::sync::enroll_pinned(
            &url,
            &code,
            &device_label,
            fieldcase_core::sync::ConnectOptions::default(),
            &enroll_pins,
        )
        .await
    })
    .await?
    .map_err(FieldcaseError::from_enrollment)?;
    let store = blocking(move || {
        let identity = Identity {
            device: enrolled.device_id,
            agency: enrolled.agency,
            user: enrolled.user_id,
        };
        let options = OpenOptions {
            kdf,
            ..OpenOptions::default()
        };
        let mut store = Store::create_with_clock(
            &path,
            &credentials.passphrase,
            credentials.extra_secret.as_deref().map(Vec::as_slice),
            identity,
            &options,
            crate::guard::clock(),
        )?;
        store.set_server_pinned(&server_url, &enrolled.credential, &pins)?;
        Ok(store)
    })
    .await?;
    Ok(Arc::new(FieldcaseStore::new(store, kdf)))
}

/// The server, code and pins of an enrollment: from a payload when `code` is one.
fn enrollment_target(
    server_url: String,
    code: String,
) -> Result<(String, String, Vec<fieldcase_core::sync::Pin>)> {
    use fieldcase_core::sync::{trust::ENROLLMENT_PAYLOAD_SCHEME, EnrollmentPayload};
    if !code.trim().starts_with(ENROLLMENT_PAYLOAD_SCHEME) {
        return Ok((server_url, code, Vec::new()));
    }
    let payload = EnrollmentPayload::parse(&code)
        .map_err(|e| FieldcaseError::invalid_input("code", e.to_string()))?;
    let given = server_url.trim().trim_end_matches('/');
    if !given.is_empty() && given != payload.server.trim_end_matches('/') {
        return Err(FieldcaseError::invalid_input(
            "server_url",
            "the enrollment payload names another server; pass an empty server_url".into(),
        ));
    }
    Ok((payload.server, payload.code, payload.pins))
}

/// Clears the running-sync slot when the sync's caller finishes or goes away.
struct SyncSlot(Arc<FieldcaseStore>);

impl Drop for SyncSlot {
    fn drop(&mut self) {
        *lock(&self.0.running_sync) = None;
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Pushes everything pending and pulls everything new, until the server has nothing
    /// more. Fails with `Network` or `Server` when worth retrying later, `Revoked` after a
    /// remote wipe, `Cancelled` when cancelled.
    pub async fn sync(
        self: Arc<Self>,
        observer: Option<Arc<dyn SyncObserver>>,
    ) -> Result<SyncOutcome> {
        self.run_sync(observer, None).await
    }

    /// [`sync`](Self::sync), retrying network and server failures up to `max_attempts`
    /// times in all, waiting 2 s, 4 s, 8 s … (at most 5 minutes) between attempts.
    pub async fn sync_with_retry(
        self: Arc<Self>,
        max_attempts: u32,
        observer: Option<Arc<dyn SyncObserver>>,
    ) -> Result<SyncOutcome> {
        let policy = RetryPolicy {
            max_attempts: Some(max_attempts.max(1)),
            ..RetryPolicy::default()
        };
        self.run_sync(observer, Some(policy)).await
    }

    /// Cancels the running sync, if any; it fails with `Cancelled`. Returns whether one was
    /// running.
    pub fn cancel_sync(&self) -> bool {
        match lock(&self.running_sync).as_ref() {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

impl FieldcaseStore {
    async fn run_sync(
        self: Arc<Self>,
        observer: Option<Arc<dyn SyncObserver>>,
        retry: Option<RetryPolicy>,
    ) -> Result<SyncOutcome> {
        let token = CancellationToken::new();
        {
            let mut running = lock(&self.running_sync);
            if running.is_some() {
                return Err(FieldcaseError::sync_in_progress());
            }
            *running = Some(token.clone());
        }
        let _slot = SyncSlot(Arc::clone(&self));
        let this = Arc::clone(&self);
        spawn(async move { this.sync_task(observer, retry, token).await }).await?
    }

    async fn sync_task(
        &self,
        observer: Option<Arc<dyn SyncObserver>>,
        retry: Option<RetryPolicy>,
        token: CancellationToken,
    ) -> Result<SyncOutcome> {
        let client = self.sync_client()?;
        let watcher = observer.clone();
        let progress = move |progress: &fieldcase_core::store::SyncProgress| {
            if let Some(observer) = &watcher {
                // A failing progress display must not stop the sync.
                let _ = observer.on_progress(progress.into());
            }
        };
        let store = &*self.store;
        let run = async {
            match &retry {
                None => sync_once(store, &client, &progress).await,
                Some(policy) => sync_with_retry(store, &client, policy, &progress).await,
            }
        };
        let result = tokio::select! {
            biased;
            _ = token.cancelled() => Err(SyncError::Cancelled),
            result = run => result,
        };
        match result {
            Ok(outcome) => Ok(outcome.into()),
            Err(SyncError::Revoked) => {
                *lock(&self.client) = None;
                if let Some(observer) = observer {
                    let _ = observer.on_remote_wipe();
                }
                Err(SyncError::Revoked.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The cached sync client, or a new one from the credential sealed in the store.
    pub(crate) fn sync_client(&self) -> Result<SyncClient> {
        let mut cached = lock(&self.client);
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let client = SyncClient::for_store(&lock(&self.store))?;
        *cached = Some(client.clone());
        Ok(client)
    }
}
