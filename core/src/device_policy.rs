//! The agency's device policy (how many failed unlocks erase a store, how long a store may go
//! without reaching its server) and what a device reports about its own store on every sync
//! (the rollback counter and whether its unlock guard was tampered with).
//!
//! Both cross the wire, so they live here, one definition for both ends: the server decides
//! and sends the policy ([`crate::protocol::SyncResponse::device_policy`]); the device keeps
//! it in its store's unlock guard and enforces it even when offline. Bounds are checked on
//! both ends: a policy outside them is refused, never clamped, so a mistake shows.

use serde::{Deserialize, Serialize};

/// Failed unlocks after which a store erases itself when the agency set nothing. Ten leaves
/// a caseworker who mistypes room to spare (the delays from the fourth failure on make ten
/// take over an hour) and stops a thief guessing through the app long before a weak
/// passphrase falls.
pub const DEFAULT_ERASE_AFTER_FAILURES: u32 = 10;
/// The fewest failed unlocks a policy may allow: the free attempts plus two delayed ones, so
/// a few typos never erase a phone.
pub const MIN_ERASE_AFTER_FAILURES: u32 = 5;
/// The most failed unlocks a policy may allow. Past a hundred the limit protects nothing
/// that the delays do not.
pub const MAX_ERASE_AFTER_FAILURES: u32 = 100;
/// The longest lease a policy may set: a year. A longer one is no lease at all.
pub const MAX_LEASE_DAYS: u32 = 365;

/// What an agency asks of its devices' stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePolicy {
    /// Failed unlocks in a row after which the store crypto-erases itself.
    pub erase_after_failures: u32,
    /// Days a store may go without reaching its server before it locks; 0 for no lease.
    #[serde(default)]
    pub lease_days: u32,
}

impl Default for DevicePolicy {
    fn default() -> Self {
        DevicePolicy {
            erase_after_failures: DEFAULT_ERASE_AFTER_FAILURES,
            lease_days: 0,
        }
    }
}

/// Why a device policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "the erase limit must be between {MIN_ERASE_AFTER_FAILURES} and \
         {MAX_ERASE_AFTER_FAILURES} failed unlocks"
    )]
    EraseLimit,
    #[error("the lease must be at most {MAX_LEASE_DAYS} days (0 for none)")]
    LeaseDays,
}

impl DevicePolicy {
    /// Checks the bounds above.
    pub fn check(&self) -> Result<(), PolicyError> {
        if !(MIN_ERASE_AFTER_FAILURES..=MAX_ERASE_AFTER_FAILURES)
            .contains(&self.erase_after_failures)
        {
            return Err(PolicyError::EraseLimit);
        }
        if self.lease_days > MAX_LEASE_DAYS {
            return Err(PolicyError::LeaseDays);
        }
        Ok(())
    }
}

/// What a device says about its store on every sync request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreReport {
    /// Strictly greater on every request than on any earlier one from this store; the server
    /// keeps the highest it has seen, so a store copied back from an older file sends a
    /// number it has already seen.
    pub counter: u64,
    /// The store found its unlock guard edited without the passphrase (a failure count reset).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guard_tampered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_within_bounds_and_bounds_are_enforced() {
        assert_eq!(DevicePolicy::default().check(), Ok(()));
        let policy = |erase, lease| DevicePolicy {
            erase_after_failures: erase,
            lease_days: lease,
        };
        assert_eq!(policy(4, 0).check(), Err(PolicyError::EraseLimit));
        assert_eq!(policy(101, 0).check(), Err(PolicyError::EraseLimit));
        assert_eq!(policy(5, 366).check(), Err(PolicyError::LeaseDays));
        assert_eq!(policy(100, 365).check(), Ok(()));
    }
}
