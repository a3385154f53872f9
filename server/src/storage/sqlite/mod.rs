//! The embedded SQLite implementation of [`Storage`]: what `fieldcase serve` uses with no
//! other setup.
//!
//! One writer connection behind a mutex (SQLite allows one writer; queuing in our mutex is
//! cheaper and fairer than spinning on `SQLITE_BUSY`) and a small pool of read-only
//! connections, so pulls and admin listings never wait for a push. WAL mode lets them read
//! while the writer writes. Because there is exactly one writer, log positions are assigned
//! and committed in order: the PostgreSQL cursor problem described in [`crate::storage`]
//! cannot arise here.
//!
//! Locks are held only around database work on blocking threads — never across network I/O
//! (the HTTP layer reads and decodes the whole body before calling in).

mod attachments;
mod audit;
pub mod bulk;
mod decisions;
mod device_store;
mod directory;
mod facts;
mod oplog;
mod referrals;
mod reports;
mod retention;
mod reviews;
pub mod schema;
mod settings;
mod state;
mod tokens;
mod tx;

use crate::credentials::SecretHash;
use crate::seal::{Sealer, KEY_CHECK_AD};
use crate::storage::*;
use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use rand::RngCore;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use schema::ConnectionRole;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Read-only connections kept open. Pulls are short (one bounded range scan); four readers
/// cover a 2-core server with room for admin listings and metrics scrapes.
pub const READER_POOL_SIZE: usize = 4;

/// The SQLite storage.
pub struct SqliteStorage {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    sealer: Sealer,
    epoch: String,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// Locks a mutex, recovering it if a panic poisoned it: rusqlite rolls back an open
/// transaction when it is dropped during unwinding, so the connection is consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStorage {
    /// Opens (creating or upgrading) the database at `path`, sealing payloads with `sealer`.
    /// Refuses a database whose key check does not open with `sealer`.
    pub fn open(path: &Path, sealer: Sealer) -> Result<Self, StorageError> {
        create_owner_only(path)?;
        let mut writer = Connection::open(path).map_err(backend)?;
        schema::configure(&writer, ConnectionRole::Writer).map_err(backend)?;
        schema::prepare(&mut writer)?;
        let epoch = init_meta(&mut writer, &sealer)?;
        facts::rebuild_if_stale(&mut writer, &sealer)?;
        decisions::seal_plain_decisions(&mut writer, &sealer)?;
        let readers = (0..READER_POOL_SIZE)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                schema::configure(&conn, ConnectionRole::Reader).map_err(backend)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            sealer,
            epoch,
        })
    }

    /// A free reader if there is one, else waits for the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return conn;
            }
        }
        lock(&self.readers[start % n])
    }

    /// Runs `f` in an immediate write transaction on the writer.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let value = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(value)
    }

    /// Runs `f` in a read transaction on a reader (one consistent snapshot).
    fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.reader();
        let tx = conn.transaction().map_err(backend)?;
        let value = f(&tx)?;
        tx.finish().map_err(backend)?;
        Ok(value)
    }
}

/// Creates an empty database file readable only by its owner, if there is none: SQLite gives
/// the `-wal` and `-shm` files the permissions of the database file.
fn create_owner_only(path: &Path) -> Result<(), StorageError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError::Backend(format!(
            "cannot create the database file {}: {e}",
            path.display()
        ))),
    }
}

/// Makes the epoch and the key check on a new database; checks the key on an existing one.
fn init_meta(conn: &mut Connection, sealer: &Sealer) -> Result<String, StorageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let get = |key: &str| {
        tx.query_row(
            "SELECT value FROM server_meta WHERE key = ?1",
            [key],
            |row| row.get::<_, Vec<u8>>(0),
        )
        .optional()
        .map_err(backend)
    };
    let epoch = match get("epoch")? {
        Some(bytes) => String::from_utf8(bytes)
            .map_err(|_| StorageError::Integrity("server_meta.epoch is not text".into()))?,
        None => {
            let mut raw = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let epoch: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES ('epoch', ?1)",
                [epoch.as_bytes()],
            )
            .map_err(backend)?;
            epoch
        }
    };
    match get("key_check")? {
        Some(sealed) => {
            sealer.open(KEY_CHECK_AD, &sealed).map_err(|_| {
                StorageError::Integrity(
                    "the server key does not open this database: start the server with the \
                     key file it was created with"
                        .into(),
                )
            })?;
        }
        None => {
            let sealed = sealer.seal(KEY_CHECK_AD, b"fieldcase");
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES ('key_check', ?1)",
                [sealed],
            )
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)?;
    Ok(epoch)
}

// --- column conversions -------------------------------------------------------------------

fn bad_column(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        format!("stored {what} is malformed").into(),
    )
}

fn device_id_col(bytes: Vec<u8>) -> rusqlite::Result<DeviceId> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| bad_column("device id"))?;
    Ok(DeviceId::from_bytes(bytes))
}

fn record_id_col(bytes: Vec<u8>) -> rusqlite::Result<RecordId> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| bad_column("record id"))?;
    Ok(RecordId::from_bytes(bytes))
}

fn agency_col(text: String) -> rusqlite::Result<AgencyCode> {
    AgencyCode::parse(&text).map_err(|_| bad_column("agency code"))
}

fn role_col(text: String) -> rusqlite::Result<crate::roles::Role> {
    crate::roles::Role::parse(&text).ok_or_else(|| bad_column("role"))
}

fn ms_col(value: i64) -> u64 {
    value.max(0) as u64
}

fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Storage for SqliteStorage {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn log_end(&self) -> Result<Position, StorageError> {
        self.read(oplog::log_end)
    }

    fn list_agencies(&self, only: Option<&AgencyCode>) -> Result<Vec<Agency>, StorageError> {
        self.read(|tx| directory::list_agencies(tx, only))
    }

    fn agency_exists(&self, code: &AgencyCode) -> Result<bool, StorageError> {
        self.read(|tx| directory::agency_exists(tx, code))
    }

    fn create_user(&self, user: &NewUser, now_ms: u64) -> Result<User, StorageError> {
        self.write(|tx| directory::create_user(tx, user, now_ms))
    }

    fn list_users(&self, agency: Option<&AgencyCode>) -> Result<Vec<User>, StorageError> {
        self.read(|tx| directory::list_users(tx, agency))
    }

    fn user(&self, id: &str, scope: Option<&AgencyCode>) -> Result<Option<User>, StorageError> {
        self.read(|tx| directory::user(tx, id, scope))
    }

    fn create_admin_token(&self, token: &NewAdminToken) -> Result<String, StorageError> {
        self.write(|tx| directory::create_admin_token(tx, token))
    }

    fn admin_by_token(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<AdminAuth>, StorageError> {
        let Some((auth, news)) = self.read(|tx| tokens::admin_by_token(tx, token_hash, now_ms))?
        else {
            return Ok(None);
        };
        if news {
            self.write(|tx| tokens::touch_admin_token(tx, &auth.id, now_ms))?;
        }
        Ok(Some(auth))
    }

    fn has_system_admin(&self, now_ms: u64) -> Result<bool, StorageError> {
        self.read(|tx| directory::has_system_admin(tx, now_ms))
    }

    fn list_admin_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<AdminTokenInfo>, StorageError> {
        self.read(|tx| tokens::list_admin_tokens(tx, scope))
    }

    fn revoke_admin_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<AdminTokenInfo>, StorageError> {
        self.write(|tx| tokens::revoke_admin_token(tx, id, scope, now_ms))
    }

    fn rotate_admin_token(
        &self,
        old_id: &str,
        new: &NewAdminToken,
        now_ms: u64,
    ) -> Result<Option<String>, StorageError> {
        self.write(|tx| tokens::rotate_admin_token(tx, old_id, new, now_ms))
    }

    fn list_api_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<ApiTokenInfo>, StorageError> {
        self.read(|tx| tokens::list_api_tokens(tx, scope))
    }

    fn revoke_api_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<ApiTokenInfo>, StorageError> {
        self.write(|tx| tokens::revoke_api_token(tx, id, scope, now_ms))
    }

    fn list_enrollment_codes(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<EnrollmentCodeInfo>, StorageError> {
        self.read(|tx| tokens::list_enrollment_codes(tx, scope))
    }

    fn revoke_enrollment_code(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<EnrollmentCodeInfo>, StorageError> {
        self.write(|tx| tokens::revoke_enrollment_code(tx, id, scope, now_ms))
    }

    fn create_enrollment_code(&self, code: &NewEnrollmentCode) -> Result<String, StorageError> {
        self.write(|tx| directory::create_enrollment_code(tx, code))
    }

    fn redeem_enrollment_code(
        &self,
        code_hash: &SecretHash,
        device: &NewDevice,
        now_ms: u64,
    ) -> Result<Option<Enrollment>, StorageError> {
        self.write(|tx| directory::redeem_enrollment_code(tx, code_hash, device, now_ms))
    }

    fn device_by_credential(
        &self,
        credential_hash: &SecretHash,
    ) -> Result<Option<DeviceAuth>, StorageError> {
        self.read(|tx| directory::device_by_credential(tx, credential_hash))
    }

    fn list_devices(&self, agency: Option<&AgencyCode>) -> Result<Vec<Device>, StorageError> {
        self.read(|tx| directory::list_devices(tx, agency))
    }

    fn revoke_device(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError> {
        self.write(|tx| directory::revoke_device(tx, id, scope, now_ms))
    }

    fn touch_device(&self, id: DeviceId, now_ms: u64) -> Result<(), StorageError> {
        self.write(|tx| directory::touch_device(tx, id, now_ms))
    }

    fn stage_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
    ) -> Result<(), StorageError> {
        self.write(|tx| directory::stage_device_credential(tx, id, next_hash))
    }

    fn promote_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<bool, StorageError> {
        self.write(|tx| directory::promote_device_credential(tx, id, next_hash, now_ms))
    }

    fn renew_device_credential(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError> {
        self.write(|tx| directory::renew_device_credential(tx, id, scope, now_ms))
    }

    fn device_counts(&self) -> Result<DeviceCounts, StorageError> {
        self.read(directory::device_counts)
    }

    fn write_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError> {
        self.write(|tx| {
            work(&mut tx::SqliteTx {
                tx,
                sealer: &self.sealer,
            })
        })
    }

    fn read_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError> {
        self.read(|tx| {
            work(&mut tx::SqliteTx {
                tx,
                sealer: &self.sealer,
            })
        })
    }

    fn scan_audit(
        &self,
        select: &AuditSelect,
        visit: &mut dyn FnMut(ChainedAuditEntry),
    ) -> Result<(), StorageError> {
        self.read(|tx| audit::scan(tx, select, visit))
    }

    fn audit_signing_key(&self) -> ed25519_dalek::SigningKey {
        crate::service::audit_chain::signing_key(
            &self
                .sealer
                .derive_key(crate::service::audit_chain::SIGNING_KEY_LABEL),
        )
    }

    fn cell_keys(&self) -> crate::reports::cellkey::CellKeys {
        crate::reports::cellkey::CellKeys::from_sealer(&self.sealer)
    }

    fn scan_case_facts(
        &self,
        filter: &crate::reports::facts::FactFilter,
        visit: &mut dyn FnMut(crate::reports::facts::CaseFactRow),
    ) -> Result<(), StorageError> {
        self.read(|tx| reports::scan_case_facts(tx, &self.sealer, filter, visit))
    }

    fn scan_service_facts(
        &self,
        filter: &crate::reports::facts::FactFilter,
        visit: &mut dyn FnMut(crate::reports::facts::ServiceFactRow),
    ) -> Result<(), StorageError> {
        self.read(|tx| reports::scan_service_facts(tx, &self.sealer, filter, visit))
    }

    fn scan_referral_facts(
        &self,
        filter: &crate::reports::facts::FactFilter,
        visit: &mut dyn FnMut(crate::reports::facts::ReferralFactRow),
    ) -> Result<(), StorageError> {
        self.read(|tx| reports::scan_referral_facts(tx, &self.sealer, filter, visit))
    }

    fn scan_match_blocks(
        &self,
        slice: crate::reports::matching::BlockSlice,
        visit: &mut dyn FnMut(&crate::reports::matching::BlockKey, std::sync::Arc<BlockMember>),
    ) -> Result<(), StorageError> {
        self.read(|tx| reports::scan_match_blocks(tx, &self.sealer, slice, visit))
    }

    fn match_profile_sample(
        &self,
        limit: usize,
    ) -> Result<crate::storage::ProfileSample, StorageError> {
        self.read(|tx| reports::match_profile_sample(tx, &self.sealer, limit))
    }

    fn confirmed_duplicate_links(&self) -> Result<Vec<(RecordId, RecordId)>, StorageError> {
        let decisions = self.read(|tx| decisions::list(tx, &self.sealer, true))?;
        Ok(decisions
            .into_iter()
            .map(|d| (d.record_a, d.record_b))
            .collect())
    }

    fn duplicate_decisions(&self) -> Result<Vec<DuplicateDecision>, StorageError> {
        self.read(|tx| decisions::list(tx, &self.sealer, false))
    }

    fn decide_duplicate(&self, decision: &DuplicateDecision) -> Result<(), StorageError> {
        self.write(|tx| decisions::decide(tx, &self.sealer, decision))
    }

    fn case_summaries(&self, cases: &[RecordId]) -> Result<Vec<CaseSummary>, StorageError> {
        self.read(|tx| reports::case_summaries(tx, &self.sealer, cases))
    }

    fn create_api_token(&self, token: &NewApiToken) -> Result<String, StorageError> {
        self.write(|tx| tokens::create_api_token(tx, token))
    }

    fn api_token_user(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<ApiTokenUser>, StorageError> {
        let Some((user, id, news)) =
            self.read(|tx| tokens::api_token_user(tx, token_hash, now_ms))?
        else {
            return Ok(None);
        };
        if news {
            self.write(|tx| tokens::touch_api_token(tx, &id, now_ms))?;
        }
        Ok(Some(user))
    }

    fn revoke_api_tokens(&self, user_id: &str, now_ms: u64) -> Result<u64, StorageError> {
        self.write(|tx| reports::revoke_api_tokens(tx, user_id, now_ms))
    }

    fn close(&self) {
        let conn = lock(&self.writer);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint at close failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in a temporary directory, removed when dropped.
    pub(super) struct TempStore {
        store: SqliteStorage,
        _dir: tempfile::TempDir,
    }

    impl std::ops::Deref for TempStore {
        type Target = SqliteStorage;
        fn deref(&self) -> &SqliteStorage {
            &self.store
        }
    }

    pub(super) fn temp_store() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStorage::open(&dir.path().join("test.db"), Sealer::from_key(&[3; 32])).unwrap();
        TempStore { store, _dir: dir }
    }

    crate::storage::conformance::conformance_suite!(temp_store());

    #[test]
    fn a_long_duplicate_scan_is_served_while_a_newer_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStorage::open(&dir.path().join("test.db"), Sealer::from_key(&[3; 32])).unwrap();
        crate::storage::conformance::a_long_scan_is_served_while_a_newer_one_runs(
            std::sync::Arc::new(store),
        );
    }

    #[test]
    fn a_saved_long_duplicate_scan_is_served_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let open = || -> std::sync::Arc<dyn crate::storage::Storage> {
            std::sync::Arc::new(SqliteStorage::open(&path, Sealer::from_key(&[3; 32])).unwrap())
        };
        crate::storage::conformance::a_saved_long_scan_is_served_after_a_restart(open(), open);
    }

    #[test]
    fn a_reopened_database_keeps_its_epoch_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let epoch = SqliteStorage::open(&path, Sealer::from_key(&[3; 32]))
            .unwrap()
            .epoch()
            .to_owned();
        let again = SqliteStorage::open(&path, Sealer::from_key(&[3; 32])).unwrap();
        assert_eq!(again.epoch(), epoch);
        drop(again);
        assert!(matches!(
            SqliteStorage::open(&path, Sealer::from_key(&[4; 32])),
            Err(StorageError::Integrity(_))
        ));
    }

    #[test]
    fn a_state_is_kept_only_when_the_log_alone_does_not_give_it() {
        use crate::service::Service;
        use crate::storage::port::StoreTx;
        let temp = temp_store();
        let store: &SqliteStorage = &temp;
        let dynamic: &dyn Storage = store;
        let device = crate::storage::conformance::enrolled_device(dynamic, "agency_a");
        let case = RecordId::from_bytes([9; 16]);
        let stored_state = |store: &SqliteStorage| -> Option<Vec<u8>> {
            store
                .read(|tx| {
                    tx.query_row(
                        "SELECT state FROM records WHERE record_id = ?1",
                        [case.as_bytes()],
                        |row| row.get(0),
                    )
                    .map_err(backend)
                })
                .unwrap()
        };
        let read_state = |store: &dyn Storage| {
            crate::storage::read(store, |tx: &mut dyn StoreTx| tx.record_state(case)).unwrap()
        };
        let first = crate::storage::conformance::sex_op(&device, 1, case, "female");
        let pushed = dynamic
            .push(&device, &[first], crate::storage::conformance::NOW + 1)
            .unwrap();
        assert_eq!(pushed.applied, 1, "{pushed:?}");
        assert_eq!(
            stored_state(store),
            None,
            "one operation: derived from the log"
        );
        let once = read_state(dynamic).expect("rebuilt from the log");
        assert_eq!(once.values()["sex"], "female");

        let second = crate::storage::conformance::sex_op(&device, 2, case, "male");
        let pushed = dynamic
            .push(&device, &[second], crate::storage::conformance::NOW + 2)
            .unwrap();
        assert_eq!(pushed.applied, 1, "{pushed:?}");
        assert!(
            stored_state(store).is_some(),
            "two operations: kept, packed"
        );
        assert_eq!(read_state(dynamic).unwrap().values()["sex"], "male");
    }
}
