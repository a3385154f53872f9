//! The rules about a device's own store: the rollback counter it reports on every sync, and
//! the agency's device policy (erase limit, lease) sent back to it.
//!
//! A device moves its store's counter on before every sync request and never sends a number
//! twice ([`fieldcase_core::store`]). The server keeps the highest it has seen per device; a
//! request whose counter is not above it comes from a store copied back from an older file
//! (or from a device that once reported a counter and now sends none, or whose store found
//! its unlock guard edited). Such a store is marked untrusted in the same transaction, and
//! every later request of that device is refused until an administrator enrolls it again:
//! a rolled-back store would reuse sequence numbers the server has already seen, and its
//! operations would be skipped as resends — lost without anyone knowing.
//!
//! The policy is an agency setting (`device_policy/<agency>`, JSON), the default when unset;
//! its bounds are checked when it is set and again by the device.

use crate::storage::port::{StoreCounter, StoreTx};
use crate::storage::{self, DeviceAuth, Storage, StorageError};
use fieldcase_core::device_policy::{DevicePolicy, StoreReport};
use fieldcase_core::AgencyCode;

/// Why a device's store is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untrusted {
    /// The counter did not move forward: an older copy of the store.
    RolledBack,
    /// The device stopped reporting a counter after it had reported one.
    CounterMissing,
    /// The store found its unlock guard edited without the passphrase.
    GuardTampered,
    /// Found untrusted before; refused until enrolled again.
    Flagged,
}

/// The server-setting key of an agency's device policy.
pub fn policy_key(agency: &AgencyCode) -> String {
    format!("device_policy/{agency}")
}

/// Checks the store report of a sync request (see the module docs) and answers with the
/// agency's policy. An untrusted store is recorded as such (committed) and refused with
/// [`StorageError::StoreUntrusted`].
pub fn check_report(
    storage: &dyn Storage,
    device: &DeviceAuth,
    report: Option<&StoreReport>,
) -> Result<DevicePolicy, StorageError> {
    let verdict = storage::write(storage, |tx| {
        let stored = tx.store_counter(device.id)?;
        let verdict = decide(stored, report);
        match verdict {
            Ok(Some(counter)) => tx.set_store_counter(
                device.id,
                &StoreCounter {
                    counter,
                    untrusted: false,
                },
            )?,
            Ok(None) => {}
            Err(Untrusted::Flagged) => {}
            Err(_) => tx.set_store_counter(
                device.id,
                &StoreCounter {
                    counter: stored.map_or(0, |s| s.counter),
                    untrusted: true,
                },
            )?,
        }
        Ok(verdict)
    })?;
    match verdict {
        Ok(_) => storage::read(storage, |tx| agency_policy(tx, &device.agency)),
        Err(why) => {
            tracing::warn!(device = %device.id, reason = ?why, "refused an untrusted device store");
            Err(StorageError::StoreUntrusted)
        }
    }
}

/// The rule, without storage: `Ok(Some(counter))` to keep a new highest counter, `Ok(None)`
/// for a device that never reported one (built before stores had counters).
pub fn decide(
    stored: Option<StoreCounter>,
    report: Option<&StoreReport>,
) -> Result<Option<u64>, Untrusted> {
    match (stored, report) {
        (Some(stored), _) if stored.untrusted => Err(Untrusted::Flagged),
        (_, Some(report)) if report.guard_tampered => Err(Untrusted::GuardTampered),
        (Some(_), None) => Err(Untrusted::CounterMissing),
        (None, None) => Ok(None),
        (Some(stored), Some(report)) if report.counter <= stored.counter => {
            Err(Untrusted::RolledBack)
        }
        (_, Some(report)) => Ok(Some(report.counter)),
    }
}

/// The agency's device policy, or the default when it has set none.
pub fn agency_policy(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
) -> Result<DevicePolicy, StorageError> {
    match tx.setting(&policy_key(agency))? {
        None => Ok(DevicePolicy::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|_| StorageError::Integrity("stored device policy is malformed".into())),
    }
}

/// Sets an agency's device policy (checked against the bounds first); devices take it at
/// their next sync. `NotFound("agency")` for an unknown agency.
pub fn set_agency_policy(
    storage: &dyn Storage,
    agency: &AgencyCode,
    policy: &DevicePolicy,
) -> Result<(), StorageError> {
    policy
        .check()
        .map_err(|e| StorageError::Rejected(e.to_string()))?;
    storage::write(storage, |tx| {
        if !tx.agency_exists(agency)? {
            return Err(StorageError::NotFound("agency"));
        }
        let json = serde_json::to_vec(policy).expect("a policy serializes");
        tx.put_setting(&policy_key(agency), &json)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(counter: u64, guard_tampered: bool) -> StoreReport {
        StoreReport {
            counter,
            guard_tampered,
        }
    }

    fn stored(counter: u64, untrusted: bool) -> Option<StoreCounter> {
        Some(StoreCounter { counter, untrusted })
    }

    #[test]
    fn the_counter_must_move_forward() {
        assert_eq!(decide(None, Some(&report(1, false))), Ok(Some(1)));
        assert_eq!(
            decide(stored(5, false), Some(&report(6, false))),
            Ok(Some(6))
        );
        assert_eq!(
            decide(stored(5, false), Some(&report(5, false))),
            Err(Untrusted::RolledBack)
        );
        assert_eq!(
            decide(stored(5, false), Some(&report(2, false))),
            Err(Untrusted::RolledBack)
        );
    }

    #[test]
    fn a_flag_a_missing_counter_or_a_tampered_guard_is_refused() {
        assert_eq!(
            decide(stored(5, true), Some(&report(9, false))),
            Err(Untrusted::Flagged)
        );
        assert_eq!(
            decide(stored(5, false), None),
            Err(Untrusted::CounterMissing)
        );
        assert_eq!(
            decide(None, Some(&report(1, true))),
            Err(Untrusted::GuardTampered)
        );
        assert_eq!(
            decide(None, None),
            Ok(None),
            "a device built before counters"
        );
    }
}
