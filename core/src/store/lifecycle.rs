//! Creating, opening, locking, unlocking, re-keying and wiping a store.

use super::connection::{self, Durability};
use super::error::{Result, StoreError};
use super::guard::{SystemClock, UnlockClock};
use super::unlock::{self, read_envelope, META_ENVELOPE, META_STORE_ID};
use super::{migrations, Store};
use crate::crypto::{DataKey, KdfParams, KeyEnvelope, StoreKeys};
use crate::hlc::{Clock, Hlc};
use crate::ids::{AgencyCode, DeviceId};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Who writes through this store: the device, its agency and the user it is enrolled for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub device: DeviceId,
    pub agency: AgencyCode,
    pub user: String,
}

/// Settings for creating or opening a store.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Argon2id cost for a new store (or a passphrase change). Existing stores use the cost
    /// recorded in their envelope.
    pub kdf: KdfParams,
    pub durability: Durability,
}

/// The counters a device must never reuse, persisted with every change.
#[derive(Serialize, Deserialize)]
struct DeviceState {
    last_seq: u64,
    clock: Option<Hlc>,
}

const META_IDENTITY: &str = "identity";
const META_DEVICE_STATE: &str = "device_state";
const META_SERVER: &str = "server";

/// The enrolled server and the device credential, sealed together in `meta`.
#[derive(Serialize, Deserialize)]
struct ServerRecord {
    base_url: String,
    credential: String,
    /// The server's certificate pins from enrollment (none: the public roots decide).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pins: Vec<crate::sync::Pin>,
}

fn server_aad() -> crate::crypto::Aad<'static> {
    crate::crypto::Aad {
        table: "meta",
        record: META_SERVER.as_bytes(),
        part: "v1",
    }
}

impl Store {
    /// Creates a new store at `path` and returns it unlocked.
    ///
    /// The file appears only once it is complete: it is built under a temporary name and
    /// renamed, so a crash during creation never leaves a half-made store at `path`.
    pub fn create(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        identity: Identity,
        options: &OpenOptions,
    ) -> Result<Store> {
        Store::create_with_clock(
            path,
            passphrase,
            extra_secret,
            identity,
            options,
            Arc::new(SystemClock),
        )
    }

    /// [`Store::create`] with the clock the unlock guard reads (delays, lease).
    pub fn create_with_clock(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        identity: Identity,
        options: &OpenOptions,
        clock: Arc<dyn UnlockClock>,
    ) -> Result<Store> {
        if path.exists() {
            return Err(StoreError::AlreadyExists);
        }
        options.kdf.check()?;
        let building = path.with_extension("creating");
        remove_database_files(&building)?;
        let store_id: [u8; 16] = rand::random();
        let dek = DataKey::generate();
        let envelope = KeyEnvelope::wrap_guarded(
            &dek,
            passphrase.as_bytes(),
            extra_secret,
            options.kdf,
            &store_id,
        )?;
        let guard = unlock::initial_guard(&dek.derive_store_keys(), &store_id, clock.now_ms());
        {
            let mut conn = connection::open(&building, true, options.durability)?;
            migrations::migrate(&mut conn, &dek.derive_store_keys())?;
            let tx = conn.transaction()?;
            let identity_json = serde_json::to_vec(&identity).expect("identity serializes");
            let state = serde_json::to_vec(&DeviceState {
                last_seq: 0,
                clock: None,
            })
            .expect("serializes");
            let mut insert = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
            insert.execute(params![META_STORE_ID, &store_id[..]])?;
            insert.execute(params![META_ENVELOPE, envelope.to_bytes()])?;
            insert.execute(params![META_IDENTITY, identity_json])?;
            insert.execute(params![META_DEVICE_STATE, state])?;
            drop(insert);
            unlock::write_guard(&tx, &guard)?;
            tx.commit()?;
            checkpoint_and_close(conn)?;
        }
        std::fs::rename(&building, path)?;
        remove_database_files(&building)?;
        Store::open_with_clock(path, passphrase, extra_secret, options, clock)
    }

    /// Opens an existing store and unlocks it, through the unlock guard: a wrong passphrase
    /// is counted in the file (and nothing else changes); attempts too soon after failures are
    /// refused with `TooSoon`; the attempt that reaches the agency's limit erases the store;
    /// an expired lease refuses with `LeaseExpired` (see [`Store::open_for_lease_renewal`]).
    pub fn open(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        options: &OpenOptions,
    ) -> Result<Store> {
        Store::open_with_clock(
            path,
            passphrase,
            extra_secret,
            options,
            Arc::new(SystemClock),
        )
    }

    /// [`Store::open`] with the clock the unlock guard reads.
    pub fn open_with_clock(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        options: &OpenOptions,
        clock: Arc<dyn UnlockClock>,
    ) -> Result<Store> {
        let mut store = Store::open_locked(path, options, clock)?;
        store.unlock(passphrase, extra_secret)?;
        Ok(store)
    }

    /// Opens a store whose lease ran out, for a sync only: the passphrase is checked like any
    /// unlock, but the keys are held aside (records stay `Locked`) until the server answers
    /// ([`crate::sync::renew_lease`] then [`Store::finish_lease_renewal`]).
    pub fn open_for_lease_renewal(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        options: &OpenOptions,
        clock: Arc<dyn UnlockClock>,
    ) -> Result<Store> {
        let mut store = Store::open_locked(path, options, clock)?;
        store.unlock_for_lease_renewal(passphrase, extra_secret)?;
        Ok(store)
    }

    /// Opens the file without a key: only the guard's status can be read until an unlock.
    /// Migrations run at the first unlock.
    pub fn open_locked(
        path: &Path,
        options: &OpenOptions,
        clock: Arc<dyn UnlockClock>,
    ) -> Result<Store> {
        if !path.is_file() {
            return Err(StoreError::NotFound);
        }
        let conn = connection::open(path, false, options.durability)?;
        let store_id = read_store_id(&conn)?;
        if unlock::is_erased(&conn)? {
            return Err(StoreError::Erased);
        }
        read_envelope(&conn)?;
        // Both are kept in the clear (ids, not personal data); reread at unlock, after the
        // migrations.
        let identity: Identity = read_meta_json(&conn, META_IDENTITY)?;
        let state: DeviceState = read_meta_json(&conn, META_DEVICE_STATE)?;
        Ok(Store {
            path: path.to_owned(),
            conn,
            store_id,
            clock: Clock::resume(identity.device, state.clock),
            identity,
            keys: None,
            lease_renewal: None,
            last_seq: state.last_seq,
            wiped: false,
            unlock_clock: clock,
            unlock_report: unlock::UnlockReport::default(),
            sync_writes: false,
            token_worker: None,
            background_checkpoint: Default::default(),
        })
    }

    /// Drops every key (zeroized on drop). Reads and writes fail with `Locked` until
    /// [`Store::unlock`].
    pub fn lock(&mut self) {
        self.keys = None;
        // The worker holds a copy of the index key: it goes too. Its tokens are made again
        // at the next unlock.
        if let Some(worker) = self.token_worker.take() {
            worker.finish();
        }
        self.background_checkpoint.wait();
        // A locked phone is an idle one: a good moment to fold the WAL back. Best effort —
        // a failed checkpoint only means the next one does more.
        let _ = self.checkpoint();
    }

    /// Copies the WAL back into the main file. Done when nobody waits (lock, after a sync,
    /// close) so interactive saves rarely pay for it.
    pub fn checkpoint(&self) -> Result<()> {
        if !self.wiped {
            self.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Prepares the store for a sync's pages: SQLite's own checkpoints wait (up to
    /// [`connection::SYNC_WAL_AUTOCHECKPOINT_PAGES`]) and cases new to the store are indexed
    /// once at the end ([`super::pending_index`]); [`Store::end_sync_writes`] does both. Durability
    /// is unchanged: a checkpoint only moves committed pages from the WAL into the main file,
    /// and the pending list is committed with the cases it names.
    pub fn begin_sync_writes(&mut self) -> Result<()> {
        self.ensure_not_wiped()?;
        connection::set_wal_autocheckpoint(&self.conn, connection::SYNC_WAL_AUTOCHECKPOINT_PAGES)?;
        connection::set_cache_size(&self.conn, connection::SYNC_CACHE_SIZE_KIB)?;
        self.sync_writes = true;
        self.token_worker = self
            .keys
            .as_ref()
            .map(|keys| super::pending_index::TokenWorker::start(&keys.index));
        Ok(())
    }

    /// Ends [`Store::begin_sync_writes`]: indexes the cases the sync brought in, goes back to
    /// [`connection::WAL_AUTOCHECKPOINT_PAGES`], and starts one checkpoint of what the sync
    /// wrote on a thread of its own ([`connection::BackgroundCheckpoint`]): everything is
    /// committed by then, and copying a first sync's 40 MB of WAL took as long as a third of
    /// the sync. Called whether the sync succeeded or not; a locked store indexes its pending
    /// cases when next unlocked.
    pub fn end_sync_writes(&mut self) -> Result<()> {
        self.sync_writes = false;
        let prepared = self
            .token_worker
            .take()
            .map(|worker| worker.finish())
            .unwrap_or_default();
        if self.wiped {
            return Ok(());
        }
        let indexed = match &self.keys {
            Some(keys) => {
                super::pending_index::index_all(&mut self.conn, keys, &prepared).map(drop)
            }
            None => Ok(()),
        };
        connection::set_wal_autocheckpoint(&self.conn, connection::WAL_AUTOCHECKPOINT_PAGES)?;
        // Shrinking the cache frees the pages the sync held on to.
        connection::set_cache_size(&self.conn, connection::CACHE_SIZE_KIB)?;
        indexed?;
        self.background_checkpoint.start(&self.path);
        Ok(())
    }

    /// Ends a bulk import that came to `imported`: writes the index tokens of every pending
    /// case now, after a failure too (every committed batch stays, and must be found). The
    /// import's own error, if any, is the one returned.
    pub(super) fn indexing_pending_after<T, E: From<super::StoreError>>(
        &mut self,
        imported: std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let indexed = unlocked_keys(&self.keys, self.wiped).and_then(|keys| {
            super::pending_index::index_all(&mut self.conn, keys, &Default::default())
        });
        let report = imported?;
        indexed?;
        Ok(report)
    }

    /// Indexes the pending cases once [`super::pending_index::MAX_PENDING_CASES`] are waiting,
    /// in the middle of a long sync or import.
    pub(super) fn index_pending_when_due(&mut self) -> Result<()> {
        let keys = unlocked_keys(&self.keys, self.wiped)?;
        if super::pending_index::count(&self.conn)? >= super::pending_index::MAX_PENDING_CASES {
            // A sync's worker hands over what it made and starts again; an import has none.
            let prepared = match self.token_worker.take() {
                Some(worker) => {
                    let prepared = worker.finish();
                    self.token_worker = Some(super::pending_index::TokenWorker::start(&keys.index));
                    prepared
                }
                None => Default::default(),
            };
            super::pending_index::index_all(&mut self.conn, keys, &prepared)?;
        }
        Ok(())
    }

    pub fn is_locked(&self) -> bool {
        self.keys.is_none()
    }

    /// Unwraps the data key through the unlock guard (see [`Store::open`]). A wrong
    /// passphrase leaves the store locked.
    pub fn unlock(&mut self, passphrase: &str, extra_secret: Option<&[u8]>) -> Result<()> {
        self.unlock_guarded(passphrase, extra_secret, false)
    }

    /// Checks the passphrase of a store whose lease ran out and holds its keys for a sync
    /// only (see [`Store::open_for_lease_renewal`]).
    pub fn unlock_for_lease_renewal(
        &mut self,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
    ) -> Result<()> {
        self.unlock_guarded(passphrase, extra_secret, true)
    }

    fn unlock_guarded(
        &mut self,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        for_renewal: bool,
    ) -> Result<()> {
        self.ensure_not_wiped()?;
        let attempt = unlock::attempt(
            &self.conn,
            &self.store_id,
            passphrase,
            extra_secret,
            self.unlock_clock.as_ref(),
        )?;
        self.keys = None;
        self.lease_renewal = None;
        self.unlock_report = attempt.report;
        migrations::migrate(&mut self.conn, &attempt.keys)?;
        let identity: Identity = read_meta_json(&self.conn, META_IDENTITY)?;
        let state: DeviceState = read_meta_json(&self.conn, META_DEVICE_STATE)?;
        self.clock = Clock::resume(identity.device, state.clock);
        self.identity = identity;
        self.last_seq = state.last_seq;
        if for_renewal {
            self.lease_renewal = Some(attempt.keys);
        } else if attempt.guard.lease_expired(self.unlock_clock.now_ms()) {
            return Err(StoreError::LeaseExpired {
                days: attempt.guard.policy.lease_days,
            });
        } else {
            // A sync that did not reach its end left cases to index (`pending_index`). Best
            // effort: the store opens either way (locking someone out of their cases over a
            // search index would be worse), and the list stays for the next sync's end.
            if let Err(error) =
                super::pending_index::index_all(&mut self.conn, &attempt.keys, &Default::default())
            {
                tracing::warn!(%error, "indexing the cases of an unfinished sync failed");
            }
            self.keys = Some(attempt.keys);
        }
        Ok(())
    }

    /// Re-wraps the data key under a new passphrase (and extra secret). The data itself is
    /// untouched, so this takes one key derivation, not a re-encryption.
    pub fn change_passphrase(
        &mut self,
        old: &str,
        old_extra_secret: Option<&[u8]>,
        new: &str,
        new_extra_secret: Option<&[u8]>,
        kdf: KdfParams,
    ) -> Result<()> {
        kdf.check()?;
        // Only an unlocked store: on a locked one this would be a way round the unlock guard.
        self.keys()?;
        let envelope = read_envelope(&self.conn)?;
        let dek = envelope.unwrap_key(old.as_bytes(), old_extra_secret, &self.store_id)?;
        let rewrapped =
            KeyEnvelope::wrap_guarded(&dek, new.as_bytes(), new_extra_secret, kdf, &self.store_id)?;
        self.conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = ?2",
            params![rewrapped.to_bytes(), META_ENVELOPE],
        )?;
        self.keys = Some(dek.derive_store_keys());
        Ok(())
    }

    /// Destroys the store: the wrapped key is overwritten first (so no copy of the file can
    /// be opened), then every file of the database is removed. The `Store` stays as an empty
    /// husk whose every call fails with `Wiped`, so a wipe can happen from behind a shared
    /// reference (a sync told the device was revoked).
    pub fn wipe(&mut self) -> Result<()> {
        if self.wiped {
            return Ok(());
        }
        self.keys = None;
        self.lease_renewal = None;
        self.wiped = true;
        if let Some(worker) = self.token_worker.take() {
            worker.finish();
        }
        // No checkpoint may write old pages back over the wipe.
        self.background_checkpoint.wait();
        let conn = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        // secure_delete is on, so the deleted envelope's bytes are zeroed in the page.
        let overwrite = conn
            .execute(
                "DELETE FROM meta WHERE key IN (?1, ?2)",
                [META_ENVELOPE, META_SERVER],
            )
            .map_err(StoreError::from)
            .and_then(|_| checkpoint_and_close(conn));
        // Whatever happened above, the files go.
        remove_database_files(&self.path)?;
        overwrite.or(Ok(()))
    }

    pub fn is_wiped(&self) -> bool {
        self.wiped
    }

    /// Remembers the server this device is enrolled with and its credential (sealed), keeping
    /// the certificate pins already stored.
    pub fn set_server(&mut self, base_url: &str, credential: &str) -> Result<()> {
        let pins = self.server_record()?.map(|r| r.pins).unwrap_or_default();
        self.set_server_pinned(base_url, credential, &pins)
    }

    /// Remembers the server, this device's credential and the server's certificate pins
    /// (sealed, like the credential, so they cannot be swapped on a stolen phone's file).
    pub fn set_server_pinned(
        &mut self,
        base_url: &str,
        credential: &str,
        pins: &[crate::sync::Pin],
    ) -> Result<()> {
        // Also while held for a lease renewal: a renewal sync may rotate the credential.
        let keys = self.guard_keys()?;
        let record = ServerRecord {
            base_url: base_url.to_owned(),
            credential: credential.to_owned(),
            pins: pins.to_vec(),
        };
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&record).expect("serializes"));
        let sealed = keys.seal.seal(server_aad(), &plain);
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![META_SERVER, sealed],
        )?;
        Ok(())
    }

    /// The enrolled server's URL and this device's credential, if enrolled.
    pub fn server(&self) -> Result<Option<(String, String)>> {
        Ok(self
            .server_record()?
            .map(|record| (record.base_url, record.credential)))
    }

    /// The server's certificate pins stored at enrollment (empty: none).
    pub fn server_pins(&self) -> Result<Vec<crate::sync::Pin>> {
        Ok(self.server_record()?.map(|r| r.pins).unwrap_or_default())
    }

    fn server_record(&self) -> Result<Option<ServerRecord>> {
        // Also while held for a lease renewal: the renewal is a sync.
        let keys = self.guard_keys()?;
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [META_SERVER],
                |r| r.get(0),
            )
            .optional()?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let integrity = || StoreError::Integrity {
            table: "meta",
            record: META_SERVER.to_owned(),
        };
        let plain = zeroize::Zeroizing::new(
            keys.seal
                .open(server_aad(), &sealed)
                .map_err(|_| integrity())?,
        );
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|_| integrity())
    }

    /// Removes a store that cannot be opened (forgotten passphrase, remote wipe of a locked
    /// phone). Overwrites the main file before unlinking it.
    pub fn wipe_path(path: &Path) -> Result<()> {
        if let Ok(metadata) = std::fs::metadata(path) {
            let zeros = vec![0u8; metadata.len().min(64 * 1024 * 1024) as usize];
            std::fs::write(path, zeros)?;
        }
        remove_database_files(path)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the WAL into the main file and closes the store.
    pub fn close(mut self) -> Result<()> {
        self.background_checkpoint.wait();
        checkpoint_and_close(self.conn)
    }

    /// Runs SQLite's full integrity check; `Ok(())` when the file is sound.
    pub fn integrity_check(&self) -> Result<()> {
        self.ensure_not_wiped()?;
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt)
        }
    }

    /// Fails with `Wiped` once the store has been wiped: calls that need no key (counts,
    /// status, cursor) must not answer from the empty stand-in connection.
    pub(super) fn ensure_not_wiped(&self) -> Result<()> {
        if self.wiped {
            Err(StoreError::Wiped)
        } else {
            Ok(())
        }
    }

    pub(super) fn keys(&self) -> Result<&StoreKeys> {
        unlocked_keys(&self.keys, self.wiped)
    }

    /// Persists the device's sequence and clock inside the caller's transaction.
    pub(super) fn save_device_state(conn: &Connection, last_seq: u64, clock: &Clock) -> Result<()> {
        let state = DeviceState {
            last_seq,
            clock: Some(clock.current()),
        };
        conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = ?2")?
            .execute(params![
                serde_json::to_vec(&state).expect("serializes"),
                META_DEVICE_STATE
            ])?;
        Ok(())
    }
}

/// The keys of an unlocked, unwiped store. A free function so callers can borrow the keys
/// and the connection separately.
pub(super) fn unlocked_keys(keys: &Option<StoreKeys>, wiped: bool) -> Result<&StoreKeys> {
    match (keys, wiped) {
        (_, true) => Err(StoreError::Wiped),
        (Some(keys), false) => Ok(keys),
        (None, false) => Err(StoreError::Locked),
    }
}

fn read_store_id(conn: &Connection) -> Result<[u8; 16]> {
    let bytes: Vec<u8> = read_meta(conn, META_STORE_ID)?;
    bytes.try_into().map_err(|_| StoreError::NotAStore)
}

fn read_meta(conn: &Connection, key: &str) -> Result<Vec<u8>> {
    let found = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get::<_, Vec<u8>>(0)
        })
        .optional();
    match found {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(StoreError::NotAStore),
        // A database without our tables is not a store (or is damaged).
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::Unknown => {
            Err(StoreError::NotAStore)
        }
        Err(e) => Err(e.into()),
    }
}

fn read_meta_json<T: serde::de::DeserializeOwned>(conn: &Connection, key: &str) -> Result<T> {
    serde_json::from_slice(&read_meta(conn, key)?).map_err(|_| StoreError::NotAStore)
}

fn checkpoint_and_close(conn: Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.close().map_err(|(_, e)| e.into())
}

/// Removes a database and its WAL, shared-memory and rollback-journal files, if present.
fn remove_database_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = PathBuf::from(path).into_os_string();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autocheckpoint(store: &Store) -> u32 {
        store
            .conn
            .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_sync_defers_checkpoints_and_restores_the_interactive_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity {
            device: DeviceId::from_bytes([1; 16]),
            agency: AgencyCode::parse("iom_ken").unwrap(),
            user: "user".into(),
        };
        let options = OpenOptions {
            kdf: KdfParams::insecure_fast_for_tests(),
            durability: Durability::Normal,
        };
        let mut store = Store::create(
            &dir.path().join("s.db"),
            "passphrase",
            None,
            identity,
            &options,
        )
        .unwrap();
        assert_eq!(autocheckpoint(&store), connection::WAL_AUTOCHECKPOINT_PAGES);
        store.begin_sync_writes().unwrap();
        assert_eq!(
            autocheckpoint(&store),
            connection::SYNC_WAL_AUTOCHECKPOINT_PAGES
        );
        store.end_sync_writes().unwrap();
        assert_eq!(autocheckpoint(&store), connection::WAL_AUTOCHECKPOINT_PAGES);
    }
}
