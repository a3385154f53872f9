//! The PostgreSQL implementation of [`Storage`]: what `fieldcase serve --database-url
//! postgres://…` uses, so several server processes can share one database.
//!
//! - **Connections**: a tiny pool ([`pool`]) of the synchronous `postgres` client, which, like
//!   rusqlite, is called from blocking threads. No TLS: point it at a local socket, a loopback
//!   address or a private network you trust.
//! - **Transactions**: every write transaction is `SERIALIZABLE`, so the service's rules (read a
//!   record's state, decide, write) behave as if transactions ran one at a time — the same
//!   guarantee SQLite's single writer gives. PostgreSQL may abort one of two conflicting
//!   transactions (serialization failure, deadlock); the work is then run again from the
//!   start, which is safe because the work closure only touches the database and nothing
//!   commits until it returns. After [`OPTIMISTIC_ATTEMPTS`] lost tries a transaction runs
//!   alone among writers ([`WRITER_GATE`]), so it cannot lose again: bounded retries, and
//!   progress for every write. Write transactions turn sequential scans off, so PostgreSQL's
//!   conflict detection locks index entries rather than whole (small) tables and fewer pushes
//!   of different devices conflict. Reads run in one `REPEATABLE READ, READ ONLY` snapshot
//!   and never conflict.
//! - **Log positions commit in order** (the hazard described in [`crate::storage`]): positions
//!   come from an identity column, and [`oplog::append`] takes the transaction-scoped advisory
//!   lock [`oplog::POSITION_LOCK`] immediately before it draws its first position, holding it
//!   until commit or rollback. A transaction that has drawn a position therefore commits (and
//!   becomes visible) before any other transaction can draw a higher one: a reader that sees
//!   position `p` sees every committed position below `p`, and a position a cursor has passed
//!   is never filled later. Only "append + the rest of the transaction + commit" is serialized;
//!   validation and reads before the first append run concurrently. The conformance check
//!   `commit_order_race_never_skips_a_position` forces the race this closes.
//! - **Sealing** is the same as SQLite's, with the same associated data (`crate::seal`), so a
//!   payload sealed by one backend opens in the other.
//!
//! The directory, forms, facts and reports modules mirror `sqlite/`'s one for one so changes to
//! either land in the matching file.

mod attachments;
mod audit;
mod device_store;
mod directory;
mod facts;
mod oplog;
pub mod pool;
mod referrals;
mod reports;
mod retention;
mod reviews;
pub mod schema;
mod settings;
mod state;
mod statements;
#[cfg(any(test, feature = "conformance"))]
pub mod testing;
mod tokens;
mod tx;

use crate::credentials::SecretHash;
use crate::seal::{Sealer, KEY_CHECK_AD};
use crate::storage::*;
use ::postgres::{IsolationLevel, Row};
use fieldcase_core::{AgencyCode, DeviceId, RecordId};
use rand::{Rng, RngCore};
pub(crate) use statements::Tx;
use std::cell::Cell;
use std::time::Duration;

/// How many times a write transaction runs optimistically (concurrently with other writers)
/// before it runs alone. Conflicts between pushes of different devices mostly resolve on the
/// next try; a transaction that keeps losing is then run exclusively (see [`WRITER_GATE`]).
pub const OPTIMISTIC_ATTEMPTS: u32 = 4;

/// How many times a write transaction runs in all before a serialization failure or deadlock is
/// reported as an error. The exclusive run after [`OPTIMISTIC_ATTEMPTS`] cannot conflict with
/// another writer, so this bound is only reached if something outside fieldcase writes too.
pub const MAX_TX_ATTEMPTS: u32 = OPTIMISTIC_ATTEMPTS + 2;

/// The pause before try `n + 1` is a random duration up to `n` times this, so transactions that
/// conflicted do not meet again in lockstep.
pub const RETRY_BACKOFF_STEP: Duration = Duration::from_millis(5);

/// A session-level advisory lock every write transaction holds around its transaction: shared
/// for an optimistic try, exclusive for a transaction that lost [`OPTIMISTIC_ATTEMPTS`] times.
/// The exclusive holder starts after every running writer ended and before any new one starts,
/// so no serializable writer overlaps it and it cannot be aborted for a conflict: every write
/// makes progress, however busy the database. ("fieldgat" in ASCII; distinct from the other
/// advisory keys.)
pub const WRITER_GATE: i64 = 0x6669_656c_6467_6174;

thread_local! {
    /// Set by [`backend`] when the error it converts asks for the transaction to be retried.
    /// The work closure returns a [`StorageError`], which carries no SQLSTATE; the transaction
    /// runner runs on this thread from start to end, so it reads this flag after a failure.
    static RETRYABLE: Cell<bool> = const { Cell::new(false) };
}

/// SQLSTATEs after which the whole transaction may simply run again.
fn is_retryable(e: &::postgres::Error) -> bool {
    use ::postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Converts a driver error. Database errors keep only their SQLSTATE and message: the detail
/// PostgreSQL adds (`Key (x)=(…)`) can hold stored values, so it is never passed on.
pub(crate) fn backend(e: ::postgres::Error) -> StorageError {
    if is_retryable(&e) {
        RETRYABLE.with(|r| r.set(true));
    }
    match e.as_db_error() {
        Some(db) => StorageError::Backend(format!("{}: {}", db.code().code(), db.message())),
        None => StorageError::Backend(e.to_string()),
    }
}

/// Asks the transaction runner to run the current work again on a fresh snapshot (for a
/// failure that a fresh snapshot resolves, which PostgreSQL does not flag as a conflict).
pub(super) fn retry_later() {
    RETRYABLE.with(|r| r.set(true));
}

/// Whether a driver error is a unique-key violation (something to create exists already).
fn is_unique_violation(e: &::postgres::Error) -> bool {
    e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// The PostgreSQL storage.
pub struct PostgresStorage {
    pool: pool::Pool,
    sealer: Sealer,
    epoch: String,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// What a `postgres://` URL names, for logs and errors: host and database, never the user's
/// password.
pub fn describe_url(url: &str) -> String {
    match url.parse::<::postgres::Config>() {
        Ok(config) => {
            let hosts: Vec<String> = config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    ::postgres::config::Host::Tcp(name) => name.clone(),
                    ::postgres::config::Host::Unix(path) => path.display().to_string(),
                })
                .collect();
            format!(
                "database {} on {}",
                config.get_dbname().unwrap_or("(default)"),
                hosts.join(",")
            )
        }
        Err(_) => "an unparsable database URL".into(),
    }
}

impl PostgresStorage {
    /// Connects to the database at `url` (a `postgres://` URL or a key=value string), creating
    /// or upgrading its schema, sealing payloads with `sealer`. Refuses a database whose key
    /// check does not open with `sealer`. Errors never contain the URL.
    pub fn connect(url: &str, sealer: Sealer) -> Result<Self, StorageError> {
        let config: ::postgres::Config = url
            .parse()
            .map_err(|_| StorageError::Backend("the database URL does not parse".into()))?;
        Self::open(config, sealer)
    }

    /// As [`PostgresStorage::connect`], with a parsed configuration.
    pub fn open(config: ::postgres::Config, sealer: Sealer) -> Result<Self, StorageError> {
        let pool = pool::Pool::new(config, pool::POOL_SIZE);
        schema::prepare(&mut *pool.get()?)?;
        let mut storage = PostgresStorage {
            pool,
            sealer,
            epoch: String::new(),
        };
        storage.epoch = storage.write(|tx| init_meta(tx, &storage.sealer))?;
        storage.write(|tx| facts::rebuild_if_stale(tx, &storage.sealer))?;
        Ok(storage)
    }

    /// Runs `f` in a serializable write transaction, again when PostgreSQL aborted it for a
    /// conflict (see the module docs).
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut pooled = self.pool.get()?;
        let (client, statements) = pooled.parts();
        let mut attempt = 1;
        loop {
            let exclusive = attempt > OPTIMISTIC_ATTEMPTS;
            let (take, release) = if exclusive {
                (
                    "SELECT pg_advisory_lock($1)",
                    "SELECT pg_advisory_unlock($1)",
                )
            } else {
                (
                    "SELECT pg_advisory_lock_shared($1)",
                    "SELECT pg_advisory_unlock_shared($1)",
                )
            };
            let take = statements.prepared(client, take).map_err(backend)?;
            client.execute(&take, &[&WRITER_GATE]).map_err(backend)?;
            RETRYABLE.with(|r| r.set(false));
            let result = match client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
            {
                Ok(tx) => {
                    let mut tx = Tx::new(tx, &mut *statements);
                    // Predicate locks on index entries rather than whole small tables: far
                    // fewer false conflicts between pushes of different devices.
                    tx.batch_execute("SET LOCAL enable_seqscan = off")
                        .map_err(backend)
                        .and_then(|()| f(&mut tx))
                        .and_then(|value| {
                            tx.commit().map_err(backend)?;
                            Ok(value)
                        })
                }
                Err(e) => Err(backend(e)),
            };
            let retry = RETRYABLE.with(|r| r.get());
            let release = statements.prepared(client, release).map_err(backend)?;
            client.execute(&release, &[&WRITER_GATE]).map_err(backend)?;
            match result {
                Err(_) if retry && attempt < MAX_TX_ATTEMPTS => {
                    tracing::debug!(attempt, "write transaction conflicted; running it again");
                    let pause = RETRY_BACKOFF_STEP * attempt;
                    std::thread::sleep(rand::thread_rng().gen_range(Duration::ZERO..pause));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `f` in one read-only snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut pooled = self.pool.get()?;
        let (client, statements) = pooled.parts();
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(backend)?;
        let mut tx = Tx::new(tx, statements);
        let value = f(&mut tx)?;
        tx.commit().map_err(backend)?;
        Ok(value)
    }
}

/// Makes the epoch and the key check on a new database; checks the key on an existing one.
/// Safe when several processes start at once: the first insert wins, every process reads it.
fn init_meta(tx: &mut Tx<'_>, sealer: &Sealer) -> Result<String, StorageError> {
    let mut raw = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let fresh: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let insert =
        "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    tx.execute(insert, &[&"epoch", &fresh.as_bytes()])
        .map_err(backend)?;
    let check = sealer.seal(KEY_CHECK_AD, b"fieldcase");
    tx.execute(insert, &[&"key_check", &check])
        .map_err(backend)?;
    let get = |tx: &mut Tx<'_>, key: &str| -> Result<Vec<u8>, StorageError> {
        tx.query_one("SELECT value FROM server_meta WHERE key = $1", &[&key])
            .map_err(backend)
            .map(|row| row.get(0))
    };
    let epoch = String::from_utf8(get(tx, "epoch")?)
        .map_err(|_| StorageError::Integrity("server_meta.epoch is not text".into()))?;
    sealer
        .open(KEY_CHECK_AD, &get(tx, "key_check")?)
        .map_err(|_| {
            StorageError::Integrity(
                "the server key does not open this database: start the server with the key \
                 file it was created with"
                    .into(),
            )
        })?;
    Ok(epoch)
}

// --- column conversions -------------------------------------------------------------------

/// Column `i` of `row`, as `T`.
fn col<'a, T: ::postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StorageError> {
    row.try_get(i).map_err(backend)
}

fn malformed(what: &str) -> StorageError {
    StorageError::Integrity(format!("stored {what} is malformed"))
}

fn device_id_of(bytes: &[u8]) -> Result<DeviceId, StorageError> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| malformed("device id"))?;
    Ok(DeviceId::from_bytes(bytes))
}

fn record_id_of(bytes: &[u8]) -> Result<RecordId, StorageError> {
    let bytes: [u8; 16] = bytes.try_into().map_err(|_| malformed("record id"))?;
    Ok(RecordId::from_bytes(bytes))
}

fn agency_of(text: &str) -> Result<AgencyCode, StorageError> {
    AgencyCode::parse(text).map_err(|_| malformed("agency code"))
}

fn role_of(text: &str) -> Result<crate::roles::Role, StorageError> {
    crate::roles::Role::parse(text).ok_or_else(|| malformed("role"))
}

fn ms(value: i64) -> u64 {
    value.max(0) as u64
}

fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Storage for PostgresStorage {
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
            work(&mut tx::PgTx {
                tx,
                sealer: &self.sealer,
            })
        })
    }

    fn read_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError> {
        self.read(|tx| {
            work(&mut tx::PgTx {
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
        let decisions = self.read(|tx| reports::duplicate_decisions(tx, &self.sealer, true))?;
        Ok(decisions
            .into_iter()
            .map(|d| (d.record_a, d.record_b))
            .collect())
    }

    fn duplicate_decisions(&self) -> Result<Vec<DuplicateDecision>, StorageError> {
        self.read(|tx| reports::duplicate_decisions(tx, &self.sealer, false))
    }

    fn decide_duplicate(&self, decision: &DuplicateDecision) -> Result<(), StorageError> {
        self.write(|tx| reports::decide_duplicate(tx, &self.sealer, decision))
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
        self.pool.close_idle();
    }
}

#[cfg(test)]
mod tests;
