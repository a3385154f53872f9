//! The unlock guard: a small record kept in the clear in the store's `meta` table, beside the
//! key envelope, that counts failed unlocks and holds the agency's device policy, the lease
//! and the rollback counter. No I/O here: the format, the delay schedule and the checks.
//!
//! Why in the clear, in the file: the count must be readable before the passphrase is known
//! (to refuse an attempt that comes too soon, or to erase), and it must travel with the file,
//! so a copy of the file demands the same delay as the original.
//!
//! What protects it, in two parts:
//! - The policy, last server contact, rollback counter and flags are MACed (HMAC-SHA256) under
//!   a key derived from the data key, so only someone who knows the passphrase can write them.
//! - The failure count must go up without the key (a failed attempt has no key), so it is a
//!   hash chain: the chain starts at an HMAC of a random nonce under the same key, and each
//!   failure hashes the tip forward. Going forward needs nothing; going back needs a preimage.
//!   At the next correct unlock the chain is recomputed from the key: a count edited down (or
//!   up) no longer matches its tip, and the store reports the guard as tampered.
//!
//! What it cannot do: stop anyone who copies the file from trying passphrases offline, at
//! Argon2id's cost and nothing else; stop a file from being replaced by an older copy of
//! itself (the server's rollback counter catches that at the next sync); stop a device clock
//! set forward from shortening a delay. Everything in the clear can be edited; an edit is
//! detected at the next correct unlock, not before.

use crate::crypto::GuardKey;
use crate::device_policy::{DevicePolicy, MAX_ERASE_AFTER_FAILURES};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Failed unlocks allowed before any delay: typos should cost nothing.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first failure past the free ones; each further failure doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(30);
/// The longest delay between attempts. An hour makes guessing through the app hopeless well
/// before the erase limit, while a caseworker who mistyped at night can still work next
/// morning.
pub const MAX_DELAY: Duration = Duration::from_secs(60 * 60);
/// A count above this is not walked when checking the chain (the erase limit is at most
/// [`MAX_ERASE_AFTER_FAILURES`]), so an edited count cannot make unlock spin.
const MAX_CHAIN_STEPS: u32 = 10 * MAX_ERASE_AFTER_FAILURES;

/// The wall clock the guard reads. A trait so tests can move time instead of sleeping.
pub trait UnlockClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl UnlockClock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::hlc::now_ms()
    }
}

/// How long an attempt must wait after `failures` failed unlocks in a row.
pub fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(31);
    FIRST_DELAY
        .checked_mul(1u32 << doublings)
        .map_or(MAX_DELAY, |delay| delay.min(MAX_DELAY))
}

const MAGIC: &[u8; 4] = b"FCUG";
const VERSION: u8 = 1;
/// Flag bit: a tampered guard was found at some unlock; sticky until the store is enrolled
/// again, and reported on every sync.
const FLAG_TAMPERED: u8 = 0b0000_0001;
const NONCE_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Bytes covered by the MAC: magic, version, flags, policy, contact, counter, nonce.
const KEYED_LEN: usize = 4 + 1 + 1 + 4 + 4 + 8 + 8 + NONCE_LEN;
/// The whole record: the keyed part, its MAC, then the failure count, time and chain tip.
pub const GUARD_LEN: usize = KEYED_LEN + MAC_LEN + 4 + 8 + 32;
/// Domain label of the chain's first link and of every step.
const CHAIN_START: &[u8] = b"fieldcase/v1/unlock-guard/chain";
const CHAIN_STEP: &[u8] = b"fieldcase/v1/unlock-guard/failure";

/// The guard record. See the module docs for which fields are authenticated how.
#[derive(Clone, PartialEq, Eq)]
pub struct Guard {
    pub tampered_seen: bool,
    pub policy: DevicePolicy,
    /// When the store last reached its server (device clock).
    pub last_contact_ms: u64,
    /// The highest rollback counter this store may have sent.
    pub counter: u64,
    nonce: [u8; NONCE_LEN],
    mac: [u8; MAC_LEN],
    /// Attempts since the last correct unlock (an attempt is counted before Argon2 runs).
    pub failures: u32,
    pub last_failure_ms: u64,
    tip: [u8; 32],
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("failures", &self.failures)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The guard record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedGuard;

impl Guard {
    /// A guard with no failures, authenticated under `key` for the store `store_id`.
    pub fn fresh(
        key: &GuardKey,
        store_id: &[u8],
        policy: DevicePolicy,
        last_contact_ms: u64,
        counter: u64,
        tampered_seen: bool,
    ) -> Guard {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut guard = Guard {
            tampered_seen,
            policy,
            last_contact_ms,
            counter,
            nonce,
            mac: [0; MAC_LEN],
            failures: 0,
            last_failure_ms: 0,
            tip: chain_start(key, &nonce),
        };
        guard.mac = guard.compute_mac(key, store_id);
        guard
    }

    /// How long an attempt made at `now_ms` must still wait; `None` when it may go ahead.
    /// A clock that went back never makes the wait longer than the delay itself.
    pub fn wait(&self, now_ms: u64) -> Option<Duration> {
        let delay = delay_after(self.failures);
        let elapsed = Duration::from_millis(now_ms.saturating_sub(self.last_failure_ms));
        let left = delay.saturating_sub(elapsed);
        (!left.is_zero()).then_some(left)
    }

    /// Counts an attempt made at `now_ms`, before its passphrase is tried.
    pub fn count_attempt(&mut self, now_ms: u64) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure_ms = now_ms;
        self.tip = chain_step(&self.tip, self.failures);
    }

    /// The limit has been reached: the store must erase itself. The limit read here is not
    /// yet authenticated, so it is held to the policy's ceiling.
    pub fn erase_due(&self) -> bool {
        self.failures
            >= self
                .policy
                .erase_after_failures
                .min(MAX_ERASE_AFTER_FAILURES)
    }

    /// Whether the lease (if any) has run out at `now_ms`.
    pub fn lease_expired(&self, now_ms: u64) -> bool {
        let days = u64::from(self.policy.lease_days);
        days > 0 && now_ms.saturating_sub(self.last_contact_ms) > days * 24 * 60 * 60 * 1000
    }

    /// Checks the MAC and the chain with the key: `true` when nothing was edited since the
    /// guard was last written with the key.
    pub fn verify(&self, key: &GuardKey, store_id: &[u8]) -> bool {
        let mac_ok = {
            let mut mac = keyed_mac(key);
            mac.update(&self.keyed_bytes(store_id));
            mac.verify_slice(&self.mac).is_ok()
        };
        if !mac_ok || self.failures > MAX_CHAIN_STEPS {
            return false;
        }
        let mut tip = chain_start(key, &self.nonce);
        for step in 1..=self.failures {
            tip = chain_step(&tip, step);
        }
        // Not secret (it is stored in the clear), so an ordinary comparison will do.
        tip == self.tip
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(GUARD_LEN);
        out.extend_from_slice(&self.keyed_fields());
        out.extend_from_slice(&self.mac);
        out.extend_from_slice(&self.failures.to_le_bytes());
        out.extend_from_slice(&self.last_failure_ms.to_le_bytes());
        out.extend_from_slice(&self.tip);
        out
    }

    /// Parses a stored guard; never panics on any input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Guard, MalformedGuard> {
        let bytes: &[u8; GUARD_LEN] = bytes.try_into().map_err(|_| MalformedGuard)?;
        if &bytes[..4] != MAGIC || bytes[4] != VERSION || bytes[5] & !FLAG_TAMPERED != 0 {
            return Err(MalformedGuard);
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let mut guard = Guard {
            tampered_seen: bytes[5] & FLAG_TAMPERED != 0,
            policy: DevicePolicy {
                erase_after_failures: u32_at(6),
                lease_days: u32_at(10),
            },
            last_contact_ms: u64_at(14),
            counter: u64_at(22),
            nonce: [0; NONCE_LEN],
            mac: [0; MAC_LEN],
            failures: u32_at(KEYED_LEN + MAC_LEN),
            last_failure_ms: u64_at(KEYED_LEN + MAC_LEN + 4),
            tip: [0; 32],
        };
        guard.nonce.copy_from_slice(&bytes[30..KEYED_LEN]);
        guard
            .mac
            .copy_from_slice(&bytes[KEYED_LEN..KEYED_LEN + MAC_LEN]);
        guard.tip.copy_from_slice(&bytes[GUARD_LEN - 32..]);
        Ok(guard)
    }

    fn keyed_fields(&self) -> [u8; KEYED_LEN] {
        let mut out = [0u8; KEYED_LEN];
        out[..4].copy_from_slice(MAGIC);
        out[4] = VERSION;
        out[5] = if self.tampered_seen { FLAG_TAMPERED } else { 0 };
        out[6..10].copy_from_slice(&self.policy.erase_after_failures.to_le_bytes());
        out[10..14].copy_from_slice(&self.policy.lease_days.to_le_bytes());
        out[14..22].copy_from_slice(&self.last_contact_ms.to_le_bytes());
        out[22..30].copy_from_slice(&self.counter.to_le_bytes());
        out[30..].copy_from_slice(&self.nonce);
        out
    }

    /// The keyed fields bound to the store, so a guard moved from another store fails.
    fn keyed_bytes(&self, store_id: &[u8]) -> Vec<u8> {
        let mut out = self.keyed_fields().to_vec();
        out.extend_from_slice(store_id);
        out
    }

    fn compute_mac(&self, key: &GuardKey, store_id: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = keyed_mac(key);
        mac.update(&self.keyed_bytes(store_id));
        mac.finalize().into_bytes().into()
    }
}

fn keyed_mac(key: &GuardKey) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key.expose_bytes()).expect("HMAC takes any key length")
}

fn chain_start(key: &GuardKey, nonce: &[u8; NONCE_LEN]) -> [u8; 32] {
    let mut mac = keyed_mac(key);
    mac.update(CHAIN_START);
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

fn chain_step(tip: &[u8; 32], step: u32) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(CHAIN_STEP);
    hash.update(tip);
    hash.update(step.to_le_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DataKey;

    const STORE: &[u8] = b"store-1";

    fn key(byte: u8) -> GuardKey {
        DataKey::from_bytes([byte; 32]).derive_store_keys().guard
    }

    fn fresh() -> Guard {
        Guard::fresh(&key(1), STORE, DevicePolicy::default(), 5, 9, false)
    }

    #[test]
    fn the_delay_is_free_then_doubles_up_to_the_cap() {
        let secs = |n| delay_after(n).as_secs();
        assert_eq!([secs(0), secs(1), secs(2)], [0, 0, 0]);
        assert_eq!([secs(3), secs(4), secs(5), secs(6)], [30, 60, 120, 240]);
        assert_eq!(secs(9), 1920);
        assert_eq!(secs(10), 3600);
        assert_eq!(secs(u32::MAX), 3600);
    }

    #[test]
    fn a_guard_round_trips_and_verifies_after_counted_attempts() {
        let mut guard = fresh();
        assert!(guard.verify(&key(1), STORE));
        for at in [100, 200, 300] {
            guard.count_attempt(at);
        }
        let parsed = Guard::from_bytes(&guard.to_bytes()).unwrap();
        assert_eq!(parsed, guard);
        assert_eq!(parsed.failures, 3);
        assert!(parsed.verify(&key(1), STORE));
        assert!(!parsed.verify(&key(2), STORE), "another store's key");
        assert!(!parsed.verify(&key(1), b"store-2"), "another store");
    }

    #[test]
    fn the_wait_follows_the_last_failure_and_a_clock_gone_back_waits_the_delay() {
        let mut guard = fresh();
        for _ in 0..4 {
            guard.count_attempt(1_000_000);
        }
        assert_eq!(guard.wait(1_000_000), Some(Duration::from_secs(60)));
        assert_eq!(guard.wait(1_030_000), Some(Duration::from_secs(30)));
        assert_eq!(guard.wait(1_060_000), None);
        assert_eq!(guard.wait(0), Some(Duration::from_secs(60)));
    }

    #[test]
    fn an_edited_count_or_keyed_field_fails_verification() {
        let mut guard = fresh();
        for at in 1..=4 {
            guard.count_attempt(at);
        }
        let bytes = guard.to_bytes();
        let count_at = KEYED_LEN + MAC_LEN;
        for (at, value) in [(count_at, 0u8), (count_at, 9), (6, 99), (10, 1), (22, 200)] {
            let mut edited = bytes.clone();
            edited[at] = value;
            let edited = Guard::from_bytes(&edited).unwrap();
            assert!(!edited.verify(&key(1), STORE), "byte {at} = {value}");
        }
    }

    #[test]
    fn the_erase_limit_read_before_unlock_is_held_to_the_ceiling() {
        let mut guard = fresh();
        guard.policy.erase_after_failures = u32::MAX;
        guard.failures = MAX_ERASE_AFTER_FAILURES;
        assert!(guard.erase_due());
    }

    #[test]
    fn the_lease_runs_out_after_its_days_and_never_without_one() {
        let day = 24 * 60 * 60 * 1000;
        let mut guard = fresh();
        guard.last_contact_ms = 10 * day;
        assert!(!guard.lease_expired(1000 * day));
        guard.policy.lease_days = 3;
        assert!(!guard.lease_expired(13 * day));
        assert!(guard.lease_expired(13 * day + 1));
    }

    #[test]
    fn parsing_refuses_anything_but_a_whole_guard() {
        let bytes = fresh().to_bytes();
        for len in 0..bytes.len() {
            assert_eq!(Guard::from_bytes(&bytes[..len]), Err(MalformedGuard));
        }
        let mut other = bytes.clone();
        other[4] = 2;
        assert_eq!(Guard::from_bytes(&other), Err(MalformedGuard));
    }
}
