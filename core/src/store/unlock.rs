//! Unlocking through the unlock guard ([`super::guard`]): delays after failed unlocks, the
//! agency's erase limit, the lease, and the rollback counter sent on every sync.
//!
//! Every passphrase attempt goes through [`attempt`]: refused without trying while a delay
//! runs; counted in the file *before* Argon2 runs (so killing the app mid-attempt does not
//! give a free guess) and checkpointed into the main database file (so a copy of the file
//! carries the count); on the attempt that reaches the limit the store is crypto-erased. A
//! correct passphrase checks the guard with the key, reports an edited count, and starts a
//! fresh guard.
//!
//! Crypto-erase destroys the wrapped data key first (with `secure_delete` on, its bytes are
//! zeroed in the page), then every row; the file stays with an `erased` marker, so the app
//! can say what happened instead of "no store".

use super::error::{Result, StoreError};
use super::guard::{Guard, UnlockClock};
use super::Store;
use crate::crypto::{CryptoError, DataKey, KeyEnvelope, StoreKeys};
use crate::device_policy::{DevicePolicy, StoreReport};
use rusqlite::{params, Connection, OptionalExtension};
use std::time::Duration;

pub(super) const META_GUARD: &str = "unlock_guard";
pub(super) const META_ERASED: &str = "erased";
pub(super) const META_ENVELOPE: &str = "envelope";
pub(super) const META_STORE_ID: &str = "store_id";

/// What the last successful unlock found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnlockReport {
    /// Failed attempts since the unlock before (the app should tell the user).
    pub failed_attempts: u32,
    /// The failure count or the guard was edited without the passphrase since the last
    /// unlock. Also reported to the server on every sync, which refuses the device until an
    /// administrator has looked.
    pub guard_tampered: bool,
}

/// What can be said about a store's guard before it is unlocked, for the unlock screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardStatus {
    /// Failed attempts since the last correct unlock.
    pub failed_attempts: u32,
    /// How long before the next attempt is taken; zero when it may go ahead now.
    pub retry_after: Duration,
    /// Attempts left before the store erases itself.
    pub attempts_before_erase: u32,
    /// The store locks for lack of server contact (needs a sync to reopen).
    pub lease_expired: bool,
}

/// A successful attempt: the keys, the fresh guard, what was found.
pub(super) struct Attempt {
    pub keys: StoreKeys,
    pub guard: Guard,
    pub report: UnlockReport,
}

/// One passphrase attempt against the store in `conn` (see the module docs). The lease is
/// the caller's to check.
pub(super) fn attempt(
    conn: &Connection,
    store_id: &[u8; 16],
    passphrase: &str,
    extra_secret: Option<&[u8]>,
    clock: &dyn UnlockClock,
) -> Result<Attempt> {
    if is_erased(conn)? {
        return Err(StoreError::Erased);
    }
    let envelope = read_envelope(conn)?;
    if envelope.needs_extra_secret && extra_secret.is_none() {
        // Not a guess: nothing is counted.
        return Err(StoreError::MissingExtraSecret);
    }
    let stored = read_guard(conn)?;
    let mut guard = match &stored {
        StoredGuard::Present(guard) => guard.clone(),
        // Deleted or damaged: nothing says how many guesses were made, so one is left.
        StoredGuard::Missing if envelope.guarded() => last_chance_guard(),
        StoredGuard::Malformed => last_chance_guard(),
        // A store made before guards existed: it gets one at this unlock.
        StoredGuard::Missing => unkeyed_guard(DevicePolicy::default()),
    };
    let now = clock.now_ms();
    if guard.erase_due() {
        crypto_erase(conn)?;
        return Err(StoreError::Erased);
    }
    if let Some(retry_after) = guard.wait(now) {
        return Err(StoreError::TooSoon { retry_after });
    }
    let failed_before = guard.failures;
    guard.count_attempt(now);
    write_guard(conn, &guard)?;
    // The count must be in the main file, not only in the WAL, before Argon2 runs.
    checkpoint_truncate(conn)?;

    let dek = match envelope.unwrap_key(passphrase.as_bytes(), extra_secret, store_id) {
        Ok(dek) => dek,
        Err(CryptoError::WrongPassphrase) if guard.erase_due() => {
            crypto_erase(conn)?;
            return Err(StoreError::Erased);
        }
        Err(error) => return Err(error.into()),
    };
    let keys = dek.derive_store_keys();
    // A store made before guards existed never had a keyed guard: nothing to verify (its
    // envelope says so, authenticated).
    let tampered = envelope.guarded()
        && match &stored {
            StoredGuard::Present(_) => !guard.verify(&keys.guard, store_id),
            StoredGuard::Missing | StoredGuard::Malformed => true,
        };
    let fresh = Guard::fresh(
        &keys.guard,
        store_id,
        if tampered {
            DevicePolicy::default()
        } else {
            guard.policy
        },
        guard.last_contact_ms,
        guard.counter,
        guard.tampered_seen || tampered,
    );
    let tx = conn.unchecked_transaction()?;
    write_guard(&tx, &fresh)?;
    if !envelope.guarded() {
        mark_guarded(&tx, &dek, passphrase, extra_secret, &envelope, store_id)?;
    }
    tx.commit()?;
    Ok(Attempt {
        keys,
        guard: fresh,
        report: UnlockReport {
            failed_attempts: failed_before,
            guard_tampered: tampered,
        },
    })
}

/// The guard of a new store: authenticated, no failures, the default policy, the lease
/// counted from `now_ms`.
pub(super) fn initial_guard(keys: &StoreKeys, store_id: &[u8], now_ms: u64) -> Guard {
    Guard::fresh(
        &keys.guard,
        store_id,
        DevicePolicy::default(),
        now_ms,
        0,
        false,
    )
}

/// The guard's state without the passphrase.
pub(super) fn status(conn: &Connection, clock: &dyn UnlockClock) -> Result<GuardStatus> {
    if is_erased(conn)? {
        return Err(StoreError::Erased);
    }
    let envelope = read_envelope(conn)?;
    let guard = match read_guard(conn)? {
        StoredGuard::Present(guard) => guard,
        StoredGuard::Missing if !envelope.guarded() => unkeyed_guard(DevicePolicy::default()),
        _ => last_chance_guard(),
    };
    let now = clock.now_ms();
    Ok(GuardStatus {
        failed_attempts: guard.failures,
        retry_after: guard.wait(now).unwrap_or_default(),
        attempts_before_erase: guard
            .policy
            .erase_after_failures
            .min(crate::device_policy::MAX_ERASE_AFTER_FAILURES)
            .saturating_sub(guard.failures),
        lease_expired: guard.lease_expired(now),
    })
}

impl Store {
    /// The keys for guard upkeep: those of an unlocked store, or of one held for a lease
    /// renewal.
    pub(super) fn guard_keys(&self) -> Result<&StoreKeys> {
        if self.wiped {
            return Err(StoreError::Wiped);
        }
        self.keys
            .as_ref()
            .or(self.lease_renewal.as_ref())
            .ok_or(StoreError::Locked)
    }

    /// Rewrites the guard with `change` applied, authenticated under the store's key. A
    /// guard found edited is kept flagged as tampered.
    fn update_guard(&self, change: impl FnOnce(&mut Guard)) -> Result<Guard> {
        let keys = self.guard_keys()?;
        let current = match read_guard(&self.conn)? {
            StoredGuard::Present(guard) => guard,
            _ => last_chance_guard(),
        };
        let tampered = !current.verify(&keys.guard, &self.store_id);
        let mut next = current.clone();
        change(&mut next);
        let fresh = Guard::fresh(
            &keys.guard,
            &self.store_id,
            next.policy,
            next.last_contact_ms,
            next.counter,
            next.tampered_seen || tampered,
        );
        write_guard(&self.conn, &fresh)?;
        Ok(fresh)
    }

    /// What the last successful unlock found (failed attempts before it, an edited guard).
    pub fn last_unlock_report(&self) -> UnlockReport {
        self.unlock_report
    }

    /// The guard's state, readable while locked: for an unlock screen that shows how long
    /// to wait and how many attempts are left.
    pub fn guard_status(&self) -> Result<GuardStatus> {
        self.ensure_not_wiped()?;
        status(&self.conn, self.unlock_clock.as_ref())
    }

    /// The policy this store enforces (the agency's, as of the last sync).
    pub fn device_policy(&self) -> Result<DevicePolicy> {
        self.guard_keys()?;
        match read_guard(&self.conn)? {
            StoredGuard::Present(guard) => Ok(guard.policy),
            _ => Ok(DevicePolicy::default()),
        }
    }

    /// Takes the agency's policy sent by the server. A policy out of bounds is refused and
    /// changes nothing.
    pub fn apply_device_policy(&self, policy: DevicePolicy) -> Result<()> {
        policy.check().map_err(StoreError::Policy)?;
        if self.device_policy()? == policy {
            // Every reply carries it: write only when it changed.
            return Ok(());
        }
        self.update_guard(|guard| guard.policy = policy)?;
        Ok(())
    }

    /// The report for the next sync request: the rollback counter is moved on and persisted
    /// before the request is sent, so no number is ever sent twice, even across a crash.
    pub fn next_store_report(&self) -> Result<StoreReport> {
        let guard = self.update_guard(|guard| guard.counter = guard.counter.saturating_add(1))?;
        Ok(StoreReport {
            counter: guard.counter,
            guard_tampered: guard.tampered_seen,
        })
    }

    /// Notes that the server answered a sync: the lease starts again from now.
    pub fn record_server_contact(&self) -> Result<()> {
        let now = self.unlock_clock.now_ms();
        self.update_guard(|guard| guard.last_contact_ms = now)?;
        Ok(())
    }

    /// Ends a lease renewal ([`Store::unlock_for_lease_renewal`]) once the server has
    /// answered: the lease starts again and the store is unlocked.
    pub fn finish_lease_renewal(&mut self) -> Result<()> {
        if self.lease_renewal.is_none() {
            return Err(StoreError::Locked);
        }
        self.record_server_contact()?;
        self.keys = self.lease_renewal.take();
        Ok(())
    }

    /// Whether the store is held for a lease renewal (only a sync can follow).
    pub fn is_held_for_lease_renewal(&self) -> bool {
        self.lease_renewal.is_some()
    }
}

enum StoredGuard {
    Present(Guard),
    Missing,
    Malformed,
}

fn read_guard(conn: &Connection) -> Result<StoredGuard> {
    let bytes: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [META_GUARD], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match bytes {
        None => StoredGuard::Missing,
        Some(bytes) => match Guard::from_bytes(&bytes) {
            Ok(guard) => StoredGuard::Present(guard),
            Err(_) => StoredGuard::Malformed,
        },
    })
}

pub(super) fn write_guard(conn: &Connection, guard: &Guard) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![META_GUARD, guard.to_bytes()],
    )?;
    Ok(())
}

/// A guard whose keyed part is not authenticated (no key yet): for counting attempts on a
/// store that has none. Its failure chain is checked by nobody.
fn unkeyed_guard(policy: DevicePolicy) -> Guard {
    let key = DataKey::generate().derive_store_keys().guard;
    Guard::fresh(&key, b"unkeyed", policy, 0, 0, false)
}

/// The guard assumed when the real one was deleted or damaged: one attempt left.
fn last_chance_guard() -> Guard {
    let mut guard = unkeyed_guard(DevicePolicy::default());
    let limit = guard.policy.erase_after_failures;
    for _ in 1..limit {
        guard.count_attempt(0);
    }
    guard
}

/// Re-wraps the data key with the "guarded" flag, so the guard can no longer be deleted
/// unnoticed. Costs one more key derivation, once, at the first unlock of an older store.
fn mark_guarded(
    conn: &Connection,
    dek: &DataKey,
    passphrase: &str,
    extra_secret: Option<&[u8]>,
    envelope: &KeyEnvelope,
    store_id: &[u8],
) -> Result<()> {
    let guarded = KeyEnvelope::wrap_guarded(
        dek,
        passphrase.as_bytes(),
        extra_secret,
        envelope.kdf,
        store_id,
    )?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = ?2",
        params![guarded.to_bytes(), META_ENVELOPE],
    )?;
    Ok(())
}

pub(super) fn is_erased(conn: &Connection) -> Result<bool> {
    let found = conn
        .query_row("SELECT 1 FROM meta WHERE key = ?1", [META_ERASED], |_| {
            Ok(())
        })
        .optional();
    match found {
        Ok(found) => Ok(found.is_some()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::Unknown => {
            Err(StoreError::NotAStore)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn read_envelope(conn: &Connection) -> Result<KeyEnvelope> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [META_ENVELOPE],
            |r| r.get(0),
        )
        .optional()?;
    let bytes = bytes.ok_or(StoreError::NotAStore)?;
    KeyEnvelope::from_bytes(&bytes).map_err(|_| StoreError::NotAStore)
}

/// Destroys the wrapped data key, then every row, in one transaction, leaving the store id and
/// the `erased` marker; then folds the WAL back and truncates it, so no old page survives
/// in it either.
pub(super) fn crypto_erase(conn: &Connection) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    // Every row goes, so foreign keys hold again at commit whatever the order.
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    tx.execute("DELETE FROM meta WHERE key <> ?1", params![META_STORE_ID])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, x'01')",
        params![META_ERASED],
    )?;
    let tables: Vec<String> = tx
        .prepare(
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'meta'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        // Table names come from the schema, not from input.
        tx.execute(&format!("DELETE FROM \"{table}\""), [])?;
    }
    tx.commit()?;
    checkpoint_truncate(conn)
}

fn checkpoint_truncate(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
