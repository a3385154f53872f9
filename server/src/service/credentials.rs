//! Device credentials over time: they expire, rotate on sync without the user noticing, and a
//! copy of a replaced one is told apart from a forgery. Pure decisions; the HTTP layer asks
//! [`judge`] about every device request and [`due_for_rotation`] on every sync.
//!
//! - A credential lives [`CredentialPolicy::lifetime_ms`] from its issue (default
//!   [`DEFAULT_CREDENTIAL_DAYS`]). Past that the device is refused with `credential_expired`:
//!   it keeps everything it holds, and an admin who has checked the phone is in the right
//!   hands renews it (`fieldcase admin device renew`), which restarts the lifetime.
//! - A sync by a device whose credential is older than [`CredentialPolicy::rotate_after_ms`]
//!   gets a new credential in its reply. The server keeps its hash as the device's *next*
//!   credential; the current one keeps working until the next one is first used, so a lost
//!   reply loses nothing (the next sync gets another). The first use of the next credential
//!   makes it current and retires the old one.
//! - A retired credential presented again is a copy (a backup of the phone, a credential read
//!   off it): refused with `credential_replaced` and logged as a warning naming the device,
//!   so an admin can revoke it. A credential nobody issued is unknown, as before.
//!
//! - A next credential replaced before its first use is kept as *superseded*: it is replaced
//!   when the current credential is used again after a rotation, which a lost reply does —
//!   and so does a copy of the current credential. If the superseded one is then presented,
//!   two parties hold this device's credentials: refused as replaced and logged, so an admin
//!   revokes the device (the copy holder's credential dies with it).
//!
//! So a device that syncs at least once per lifetime never expires, and a copied credential
//! stops working at the device's next sync after the copy instead of living as long as the
//! device. What it cannot do: tell the device from a copy used *before* the device's next
//! sync; then the copy holds the newer credential and the device is refused — a loud failure
//! an admin sees, not a silent takeover (`docs/security.md`).

use crate::storage::{CredentialSlot, DeviceAuth};

/// Default lifetime of a device credential without a sync that rotates it.
pub const DEFAULT_CREDENTIAL_DAYS: u32 = 180;

/// A credential older than this is replaced at the device's next sync.
pub const DEFAULT_ROTATE_AFTER_MS: u64 = 24 * 3_600_000;

const DAY_MS: u64 = 86_400_000;

/// How long credentials live and how often they rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialPolicy {
    pub lifetime_ms: u64,
    pub rotate_after_ms: u64,
}

impl CredentialPolicy {
    /// Credentials living `days` days, rotated daily.
    pub fn days(days: u32) -> CredentialPolicy {
        CredentialPolicy {
            lifetime_ms: u64::from(days) * DAY_MS,
            rotate_after_ms: DEFAULT_ROTATE_AFTER_MS.min(u64::from(days) * DAY_MS / 2),
        }
    }
}

impl Default for CredentialPolicy {
    fn default() -> Self {
        CredentialPolicy::days(DEFAULT_CREDENTIAL_DAYS)
    }
}

/// What to do with a presented device credential (of a device that is not revoked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// The first use of the next credential: make it current, then accept.
    Promote,
    /// Older than its lifetime.
    Expired,
    /// A credential this device has replaced: a copy.
    Replaced,
}

/// Judges the credential `device` was found by, at `now_ms`.
pub fn judge(device: &DeviceAuth, now_ms: u64, policy: &CredentialPolicy) -> Verdict {
    match device.credential {
        CredentialSlot::Retired | CredentialSlot::Superseded => Verdict::Replaced,
        CredentialSlot::Next => Verdict::Promote,
        CredentialSlot::Current
            if now_ms.saturating_sub(device.credential_issued_at_ms) > policy.lifetime_ms =>
        {
            Verdict::Expired
        }
        CredentialSlot::Current => Verdict::Accept,
    }
}

/// Whether this sync's reply should carry a new credential.
pub fn due_for_rotation(device: &DeviceAuth, now_ms: u64, policy: &CredentialPolicy) -> bool {
    device.credential == CredentialSlot::Current
        && now_ms.saturating_sub(device.credential_issued_at_ms) >= policy.rotate_after_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;
    use fieldcase_core::{AgencyCode, DeviceId};

    fn device(slot: CredentialSlot, issued_at_ms: u64) -> DeviceAuth {
        DeviceAuth {
            id: DeviceId::new_random(),
            agency: AgencyCode::parse("iom_uga").unwrap(),
            user_id: "u".into(),
            role: Role::Caseworker,
            revoked: false,
            last_seen_at_ms: None,
            last_seq: 0,
            credential: slot,
            credential_issued_at_ms: issued_at_ms,
        }
    }

    #[test]
    fn a_current_credential_lives_its_lifetime_and_rotates_after_a_day() {
        let policy = CredentialPolicy::days(180);
        let issued = 1_000_000;
        let fresh = device(CredentialSlot::Current, issued);
        assert_eq!(judge(&fresh, issued + 1, &policy), Verdict::Accept);
        assert!(!due_for_rotation(&fresh, issued + DAY_MS - 1, &policy));
        assert!(due_for_rotation(&fresh, issued + DAY_MS, &policy));
        assert_eq!(
            judge(&fresh, issued + 180 * DAY_MS, &policy),
            Verdict::Accept
        );
        assert_eq!(
            judge(&fresh, issued + 180 * DAY_MS + 1, &policy),
            Verdict::Expired
        );
    }

    #[test]
    fn the_next_credential_is_promoted_and_a_retired_one_is_a_copy() {
        let policy = CredentialPolicy::default();
        let next = device(CredentialSlot::Next, 0);
        assert_eq!(judge(&next, u64::MAX, &policy), Verdict::Promote);
        assert!(!due_for_rotation(&next, u64::MAX, &policy));
        let retired = device(CredentialSlot::Retired, 0);
        assert_eq!(judge(&retired, 1, &policy), Verdict::Replaced);
        let superseded = device(CredentialSlot::Superseded, 0);
        assert_eq!(judge(&superseded, 1, &policy), Verdict::Replaced);
    }

    #[test]
    fn a_short_lifetime_still_rotates_before_it_expires() {
        let policy = CredentialPolicy::days(1);
        assert!(policy.rotate_after_ms < policy.lifetime_ms);
    }
}
