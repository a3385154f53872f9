//! The unlock guard as the apps see it: how long to wait and how many attempts are left
//! (readable before unlocking, for the unlock screen), what the last unlock found, the
//! agency's device policy, and the lease renewal of a store that lost touch with its server.
//!
//! The rules are core's (`fieldcase_core::store::guard`); this maps them. The clock every
//! store of the facade reads is the system clock; test builds can move it forward
//! ([`advance_unlock_clock_for_tests`]) so a Kotlin test can pass a delay without sleeping.

use crate::error::Result;
use crate::runtime::blocking;
use crate::store::FieldcaseStore;
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::store::{OpenOptions, Store, UnlockClock};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use zeroize::Zeroizing;

/// How far test builds have moved the facade's clock forward, in milliseconds. Always zero
/// in a shipped library: only [`advance_unlock_clock_for_tests`] changes it.
static TEST_CLOCK_OFFSET_MS: AtomicU64 = AtomicU64::new(0);

/// The clock the facade's stores read: the system clock (plus the test offset).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FacadeClock;

impl UnlockClock for FacadeClock {
    fn now_ms(&self) -> u64 {
        fieldcase_core::hlc::now_ms() + TEST_CLOCK_OFFSET_MS.load(Ordering::SeqCst)
    }
}

pub(crate) fn clock() -> Arc<dyn UnlockClock> {
    Arc::new(FacadeClock)
}

/// Test builds only: moves the clock of the unlock guard (delays, lease) forward.
#[cfg(feature = "insecure-test-kdf")]
#[uniffi::export]
pub fn advance_unlock_clock_for_tests(seconds: u64) {
    TEST_CLOCK_OFFSET_MS.fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
}

/// What the unlock screen can show before the passphrase is typed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UnlockStatus {
    /// Failed attempts since the last correct unlock.
    pub failed_attempts: u32,
    /// Seconds before the next attempt is taken; 0 when it may go ahead now.
    pub retry_after_secs: u64,
    /// Attempts left before the store erases itself.
    pub attempts_before_erase: u32,
    /// The store is locked for lack of server contact: renew the lease on a network.
    pub lease_expired: bool,
}

/// What the last successful unlock found.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UnlockReport {
    /// Failed attempts before it: tell the user, someone may have tried their phone.
    pub failed_attempts: u32,
    /// The unlock record was edited without the passphrase since the unlock before. The
    /// server is told at the next sync and refuses the device until an administrator looks.
    pub guard_tampered: bool,
}

/// The agency's policy this store enforces, as of its last sync.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DevicePolicy {
    /// Failed unlocks in a row after which the store erases itself.
    pub erase_after_failures: u32,
    /// Days without reaching the server after which the store locks; 0 for none.
    pub lease_days: u32,
}

fn options() -> OpenOptions {
    OpenOptions {
        kdf: KdfParams::DEFAULT,
        ..OpenOptions::default()
    }
}

/// The unlock guard's state of the store at `path`, without a passphrase. Fails with
/// `Erased` for a store that erased itself.
#[uniffi::export]
pub fn unlock_status(path: String) -> Result<UnlockStatus> {
    let store = Store::open_locked(&PathBuf::from(path), &options(), clock())?;
    Ok(store.guard_status()?.into())
}

/// Opens a store whose lease ran out (`LeaseExpired`) for a renewal only: the passphrase is
/// checked (and counted) like any unlock, then only `renew_lease` may follow; records stay
/// `Locked` until the server has answered.
#[uniffi::export]
pub async fn open_store_for_lease_renewal(
    path: String,
    passphrase: String,
    extra_secret: Option<Vec<u8>>,
) -> Result<Arc<FieldcaseStore>> {
    let passphrase = Zeroizing::new(passphrase);
    let extra_secret = extra_secret.map(Zeroizing::new);
    let store = blocking(move || {
        Ok(Store::open_for_lease_renewal(
            &PathBuf::from(path),
            &passphrase,
            extra_secret.as_deref().map(Vec::as_slice),
            &options(),
            clock(),
        )?)
    })
    .await?;
    Ok(Arc::new(FieldcaseStore::new(store, KdfParams::DEFAULT)))
}

#[uniffi::export]
impl FieldcaseStore {
    /// The unlock guard's state (works while locked).
    pub fn unlock_status(&self) -> Result<UnlockStatus> {
        Ok(self.store().guard_status()?.into())
    }

    /// What the last successful unlock found.
    pub fn last_unlock_report(&self) -> UnlockReport {
        let report = self.store().last_unlock_report();
        UnlockReport {
            failed_attempts: report.failed_attempts,
            guard_tampered: report.guard_tampered,
        }
    }

    /// The agency's device policy this store enforces.
    pub fn device_policy(&self) -> Result<DevicePolicy> {
        let policy = self.store().device_policy()?;
        Ok(DevicePolicy {
            erase_after_failures: policy.erase_after_failures,
            lease_days: policy.lease_days,
        })
    }

    /// Reaches the server for a store opened with `open_store_for_lease_renewal`; on success
    /// the lease starts again and the store is unlocked. `Revoked` wipes it as a sync would;
    /// `StoreUntrusted` leaves it locked.
    pub async fn renew_lease(&self) -> Result<()> {
        let client = fieldcase_core::sync::SyncClient::for_store(&self.store())?;
        let store = Arc::clone(&self.store);
        crate::runtime::spawn(async move {
            Ok(fieldcase_core::sync::renew_lease(&store, &client).await?)
        })
        .await?
    }
}

impl From<fieldcase_core::store::GuardStatus> for UnlockStatus {
    fn from(status: fieldcase_core::store::GuardStatus) -> Self {
        UnlockStatus {
            failed_attempts: status.failed_attempts,
            retry_after_secs: status.retry_after.as_millis().div_ceil(1000) as u64,
            attempts_before_erase: status.attempts_before_erase,
            lease_expired: status.lease_expired,
        }
    }
}
