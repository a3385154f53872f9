//! Creating, opening, locking, unlocking, re-keying and wiping a store.

use super::connection::{self, Durability};
use super::error::{Result, StoreError};
use super::{migrations, Store};
use crate::crypto::{DataKey, KdfParams, KeyEnvelope, StoreKeys};
use crate::hlc::{Clock, Hlc};
use crate::ids::{AgencyCode, DeviceId};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

const META_STORE_ID: &str = "store_id";
const META_ENVELOPE: &str = "envelope";
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
        if path.exists() {
            return Err(StoreError::AlreadyExists);
        }
        options.kdf.check()?;
        let building = path.with_extension("creating");
        remove_database_files(&building)?;
        let store_id: [u8; 16] = rand::random();
        let dek = DataKey::generate();
        let envelope = KeyEnvelope::wrap(
            &dek,
            passphrase.as_bytes(),
            extra_secret,
            options.kdf,
            &store_id,
        )?;
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
            tx.commit()?;
            checkpoint_and_close(conn)?;
        }
        std::fs::rename(&building, path)?;
        remove_database_files(&building)?;
        Store::open(path, passphrase, extra_secret, options)
    }

    /// Opens an existing store and unlocks it. A wrong passphrase reads nothing and changes
    /// nothing in the file.
    pub fn open(
        path: &Path,
        passphrase: &str,
        extra_secret: Option<&[u8]>,
        options: &OpenOptions,
    ) -> Result<Store> {
        if !path.is_file() {
            return Err(StoreError::NotFound);
        }
        let mut conn = connection::open(path, false, options.durability)?;
        let store_id = read_store_id(&conn)?;
        let envelope = read_envelope(&conn)?;
        let keys = envelope
            .unwrap_key(passphrase.as_bytes(), extra_secret, &store_id)?
            .derive_store_keys();
        migrations::migrate(&mut conn, &keys)?;
        let identity: Identity = read_meta_json(&conn, META_IDENTITY)?;
        let state: DeviceState = read_meta_json(&conn, META_DEVICE_STATE)?;
        Ok(Store {
            path: path.to_owned(),
            conn,
            store_id,
            clock: Clock::resume(identity.device, state.clock),
            identity,
            keys: Some(keys),
            last_seq: state.last_seq,
            wiped: false,
        })
    }

    /// Drops every key (zeroized on drop). Reads and writes fail with `Locked` until
    /// [`Store::unlock`].
    pub fn lock(&mut self) {
        self.keys = None;
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

    /// Defers SQLite's own checkpoints while a sync applies its pages (up to
    /// [`connection::SYNC_WAL_AUTOCHECKPOINT_PAGES`]); [`Store::end_sync_writes`] restores
    /// the interactive threshold and checkpoints once. Durability is unchanged: a checkpoint
    /// only moves committed pages from the WAL into the main file.
    pub fn begin_sync_writes(&self) -> Result<()> {
        self.ensure_not_wiped()?;
        connection::set_wal_autocheckpoint(&self.conn, connection::SYNC_WAL_AUTOCHECKPOINT_PAGES)?;
        Ok(())
    }

    /// Ends [`Store::begin_sync_writes`]: back to [`connection::WAL_AUTOCHECKPOINT_PAGES`],
    /// then one checkpoint of what the sync wrote.
    pub fn end_sync_writes(&self) -> Result<()> {
        if self.wiped {
            return Ok(());
        }
        connection::set_wal_autocheckpoint(&self.conn, connection::WAL_AUTOCHECKPOINT_PAGES)?;
        self.checkpoint()
    }

    pub fn is_locked(&self) -> bool {
        self.keys.is_none()
    }

    /// Unwraps the data key again. A wrong passphrase leaves the store locked.
    pub fn unlock(&mut self, passphrase: &str, extra_secret: Option<&[u8]>) -> Result<()> {
        let envelope = read_envelope(&self.conn)?;
        let dek = envelope.unwrap_key(passphrase.as_bytes(), extra_secret, &self.store_id)?;
        self.keys = Some(dek.derive_store_keys());
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
        let envelope = read_envelope(&self.conn)?;
        let dek = envelope.unwrap_key(old.as_bytes(), old_extra_secret, &self.store_id)?;
        let rewrapped =
            KeyEnvelope::wrap(&dek, new.as_bytes(), new_extra_secret, kdf, &self.store_id)?;
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
        self.wiped = true;
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
        let keys = self.keys()?;
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
        let keys = self.keys()?;
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
    pub fn close(self) -> Result<()> {
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

fn read_envelope(conn: &Connection) -> Result<KeyEnvelope> {
    let bytes = read_meta(conn, META_ENVELOPE)?;
    KeyEnvelope::from_bytes(&bytes).map_err(|_| StoreError::NotAStore)
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
        let store = Store::create(
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
