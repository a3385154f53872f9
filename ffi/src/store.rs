//! `FieldcaseStore`: one enrolled user's encrypted store, as an object the apps hold.
//!
//! It wraps core's `Store` in a mutex, so every method may be called from any thread; a call
//! holds the lock only while core works and never across an await. Methods that run Argon2
//! (unlock, change of passphrase, opening) are `async` and run on the facade's runtime, so an
//! app may call them from its UI thread; the rest are quick SQLite calls, best made from a
//! background dispatcher or queue all the same. Sync lives in `sync.rs`, enrollment too.
//!
//! Nothing here decides anything core would also need: it converts records, maps errors and
//! keeps the sync client (which holds the device credential) only while the store is unlocked.

use crate::case::{CaseData, CaseRecord};
use crate::codes::{CaseStatus, RecordKind, Resolution};
use crate::error::Result;
use crate::records::{
    parse_version, CaseSearchResult, CaseSummary, Conflict, DeviceIdentity, NoteRecord,
    SearchQuery, ServiceData, ServiceRecord, StoreStatus,
};
use crate::runtime::blocking;
use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::ValidationErrors;
use fieldcase_core::model::{note, Date, Fields, Note, Reason, Service, ValidationError};
use fieldcase_core::store::{OpenOptions, Store, StoreError};
use fieldcase_core::sync::SyncClient;
use fieldcase_core::RecordId;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// Most cases one `list_cases` call returns: a screenful many times over, while keeping one
/// call's memory and time bounded on a low-end phone. Page with `offset` for more.
pub const MAX_LIST_LIMIT: u32 = 500;

/// One enrolled user's encrypted store.
#[derive(uniffi::Object)]
pub struct FieldcaseStore {
    pub(crate) store: Arc<Mutex<Store>>,
    /// Argon2 cost for a change of passphrase.
    kdf: KdfParams,
    /// The sync client, holding the device credential: made on first sync, dropped on lock.
    pub(crate) client: Mutex<Option<SyncClient>>,
    /// Cancels the running sync, if one is running.
    pub(crate) running_sync: Mutex<Option<CancellationToken>>,
}

impl std::fmt::Debug for FieldcaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldcaseStore").finish_non_exhaustive()
    }
}

/// A mutex guard, even if a panic elsewhere poisoned the lock: SQLite transactions roll back,
/// so the store is never left half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn record_id(field: &str, id: &str) -> Result<RecordId> {
    id.parse().map_err(|_| {
        ValidationErrors(vec![ValidationError::new(field, Reason::InvalidRecordId)]).into()
    })
}

fn options(kdf: KdfParams) -> OpenOptions {
    OpenOptions {
        kdf,
        ..OpenOptions::default()
    }
}

/// Opens an existing store and unlocks it. A wrong passphrase reads nothing and changes
/// nothing but the failed-unlock count; too soon after failures it fails with `TooSoon`
/// without trying, at the agency's limit with `Erased`, after a lapsed lease with
/// `LeaseExpired` (see `open_store_for_lease_renewal`).
#[uniffi::export]
pub async fn open_store(
    path: String,
    passphrase: String,
    extra_secret: Option<Vec<u8>>,
) -> Result<Arc<FieldcaseStore>> {
    let passphrase = Zeroizing::new(passphrase);
    let extra_secret = extra_secret.map(Zeroizing::new);
    let kdf = KdfParams::DEFAULT;
    let store = blocking(move || {
        Ok(Store::open_with_clock(
            &PathBuf::from(path),
            &passphrase,
            extra_secret.as_deref().map(Vec::as_slice),
            &options(kdf),
            crate::guard::clock(),
        )?)
    })
    .await?;
    Ok(Arc::new(FieldcaseStore::new(store, kdf)))
}

/// Destroys the store at `path` without opening it: for a forgotten passphrase, or a remote
/// wipe of a phone whose store is locked. The file is overwritten before it is removed.
#[uniffi::export]
pub fn wipe_store_file(path: String) -> Result<()> {
    Ok(Store::wipe_path(&PathBuf::from(path))?)
}

/// Test builds only: a store that never enrolled, with cheap key derivation, for tests and
/// benchmarks that need no server. Absent from a shipped library.
#[cfg(feature = "insecure-test-kdf")]
#[uniffi::export]
pub fn create_unenrolled_store_for_tests(
    path: String,
    passphrase: String,
    agency: String,
    user_id: String,
) -> Result<Arc<FieldcaseStore>> {
    use fieldcase_core::store::Identity;
    let agency = fieldcase_core::AgencyCode::parse(&agency).map_err(|_| {
        crate::error::FieldcaseError::from(ValidationErrors(vec![ValidationError::new(
            "agency",
            Reason::InvalidAgencyCode,
        )]))
    })?;
    let identity = Identity {
        device: fieldcase_core::DeviceId::new_random(),
        agency,
        user: user_id,
    };
    let kdf = KdfParams::insecure_fast_for_tests();
    let store = Store::create_with_clock(
        &PathBuf::from(path),
        &passphrase,
        None,
        identity,
        &options(kdf),
        crate::guard::clock(),
    )?;
    Ok(Arc::new(FieldcaseStore::new(store, kdf)))
}

impl FieldcaseStore {
    pub(crate) fn new(store: Store, kdf: KdfParams) -> FieldcaseStore {
        FieldcaseStore {
            store: Arc::new(Mutex::new(store)),
            kdf,
            client: Mutex::new(None),
            running_sync: Mutex::new(None),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn forget_client(&self) {
        *lock(&self.client) = None;
    }
}

#[uniffi::export]
impl FieldcaseStore {
    // ---- Lifecycle ----

    /// Who writes through this store. Works while locked.
    pub fn identity(&self) -> DeviceIdentity {
        self.store().identity().into()
    }

    pub fn is_locked(&self) -> bool {
        self.store().is_locked()
    }

    pub fn is_wiped(&self) -> bool {
        self.store().is_wiped()
    }

    /// Drops every key (and the sync credential) from memory. Every call that reads or writes
    /// records then fails with `Locked` until `unlock`.
    pub fn lock(&self) {
        self.store().lock();
        self.forget_client();
    }

    /// Unwraps the data key again. A wrong passphrase fails with `WrongPassphrase` and leaves
    /// the store locked.
    pub async fn unlock(&self, passphrase: String, extra_secret: Option<Vec<u8>>) -> Result<()> {
        let passphrase = Zeroizing::new(passphrase);
        let extra_secret = extra_secret.map(Zeroizing::new);
        let store = Arc::clone(&self.store);
        blocking(move || {
            Ok(lock(&store).unlock(&passphrase, extra_secret.as_deref().map(Vec::as_slice))?)
        })
        .await
    }

    /// Re-wraps the data key under a new passphrase (and extra secret); the records are not
    /// re-encrypted, so this takes two key derivations whatever the store's size.
    pub async fn change_passphrase(
        &self,
        old_passphrase: String,
        old_extra_secret: Option<Vec<u8>>,
        new_passphrase: String,
        new_extra_secret: Option<Vec<u8>>,
    ) -> Result<()> {
        let old = Zeroizing::new(old_passphrase);
        let new = Zeroizing::new(new_passphrase);
        let old_extra = old_extra_secret.map(Zeroizing::new);
        let new_extra = new_extra_secret.map(Zeroizing::new);
        let store = Arc::clone(&self.store);
        let kdf = self.kdf;
        blocking(move || {
            Ok(lock(&store).change_passphrase(
                &old,
                old_extra.as_deref().map(Vec::as_slice),
                &new,
                new_extra.as_deref().map(Vec::as_slice),
                kdf,
            )?)
        })
        .await
    }

    /// Destroys the store: the wrapped key first, then every file. Cancels a running sync.
    /// Every later call fails with `Wiped`.
    pub fn wipe(&self) -> Result<()> {
        self.cancel_sync();
        self.forget_client();
        Ok(self.store().wipe()?)
    }

    /// Pending work, conflicts and the last sync. Works while locked.
    pub fn status(&self) -> Result<StoreStatus> {
        Ok(self.store().status()?.into())
    }

    // ---- Cases ----

    /// Records a new case; returns its id. Fails with `Invalid`, naming every invalid field.
    pub fn create_case(&self, case: CaseData) -> Result<String> {
        let fields = case.to_fields()?;
        Ok(self.store().create_case_fields(fields)?.to_string())
    }

    /// Saves an edit: `edited` is `original.data` as the user left it. Only the fields the
    /// user changed are written, so an edit made on a case loaded before a sync keeps what the
    /// sync brought. Returns whether anything changed.
    pub fn update_case(&self, original: CaseRecord, edited: CaseData) -> Result<bool> {
        let id = record_id("id", &original.id)?;
        let changes = edited.changes_from(&original.data)?;
        if changes.is_empty() {
            return Ok(false);
        }
        Ok(self.store().update_case(&id, changes)?.is_some())
    }

    pub fn get_case(&self, id: String) -> Result<CaseRecord> {
        let id = record_id("id", &id)?;
        Ok(CaseRecord::from_core(self.store().get_case(&id)?))
    }

    /// Cases, most recently changed first, optionally with one status; at most
    /// `MAX_LIST_LIMIT` (500) per call.
    pub fn list_cases(
        &self,
        status: Option<CaseStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseRecord>> {
        let cases = self.store().list_cases(
            status.map(|s| s.as_str()),
            limit.min(MAX_LIST_LIMIT) as usize,
            offset as usize,
        )?;
        Ok(cases.into_iter().map(CaseRecord::from_core).collect())
    }

    /// Works while locked: counts are in the clear.
    pub fn count_cases(&self, status: Option<CaseStatus>) -> Result<u64> {
        let store = self.store();
        // Core's `count_cases` does not check for a wiped store (it would read the empty
        // stand-in database and fail with a storage error); say `Wiped` as every other call.
        if store.is_wiped() {
            return Err(StoreError::Wiped.into());
        }
        Ok(store.count_cases(status.map(|s| s.as_str()))?)
    }

    /// Cases matching a name, phone or document number, as whole cases, best match first,
    /// at most 50. Each case is unsealed: for a result list, use `search_cases`.
    pub fn search(&self, query: SearchQuery) -> Result<Vec<CaseRecord>> {
        let store = self.store();
        store
            .search(&query.into())?
            .into_iter()
            .map(|hit| Ok(CaseRecord::from_core(store.get_case(&hit.summary.id)?)))
            .collect()
    }

    /// Cases matching a name, phone or document number, as summaries: exact matches first,
    /// then alike names, then names starting with the last word typed; newest first within
    /// each; at most 50. Fast enough to call on every keystroke (no case is unsealed).
    pub fn search_cases(&self, query: SearchQuery) -> Result<Vec<CaseSearchResult>> {
        let found = self.store().search(&query.into())?;
        Ok(found.into_iter().map(CaseSearchResult::from).collect())
    }

    /// Summaries of cases, most recently changed first, optionally with one status; at most
    /// `MAX_LIST_LIMIT` (500) per call. What a case list shows, without unsealing cases.
    pub fn list_case_summaries(
        &self,
        status: Option<CaseStatus>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<CaseSummary>> {
        let summaries = self.store().list_case_summaries(
            status.map(|s| s.as_str()),
            limit.min(MAX_LIST_LIMIT) as usize,
            offset as usize,
        )?;
        Ok(summaries.into_iter().map(CaseSummary::from).collect())
    }

    /// One case's summary.
    pub fn case_summary(&self, id: String) -> Result<CaseSummary> {
        let id = record_id("id", &id)?;
        Ok(self.store().case_summary(&id)?.into())
    }

    // ---- Services and notes ----

    /// Records a service given to a case; returns its id.
    pub fn add_service(&self, service: ServiceData) -> Result<String> {
        let service = Service::from_fields(&service.to_fields())?;
        Ok(self.store().add_service(&service)?.to_string())
    }

    /// The services of a case, oldest first.
    pub fn services_of(&self, case_id: String) -> Result<Vec<ServiceRecord>> {
        let id = record_id("case_id", &case_id)?;
        let children = self.store().children_of(&id, RecordKind::Service)?;
        children.into_iter().map(ServiceRecord::from_core).collect()
    }

    /// Adds a narrative note to a case, written by this store's user; `written_on` is
    /// `YYYY-MM-DD`, today (UTC) when absent. Returns its id.
    pub fn add_note(
        &self,
        case_id: String,
        text: String,
        written_on: Option<String>,
    ) -> Result<String> {
        let mut store = self.store();
        let written_on = written_on.unwrap_or_else(|| Date::today().to_string());
        let fields: Fields = [
            (note::CASE_ID, Value::from(case_id)),
            (note::TEXT, Value::from(text)),
            (note::WRITTEN_ON, Value::from(written_on)),
            (note::AUTHOR, Value::from(store.identity().user.as_str())),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        let note = Note::from_fields(&fields)?;
        Ok(store.add_note(&note)?.to_string())
    }

    /// The notes of a case, oldest first.
    pub fn notes_of(&self, case_id: String) -> Result<Vec<NoteRecord>> {
        let id = record_id("case_id", &case_id)?;
        let children = self.store().children_of(&id, RecordKind::Note)?;
        Ok(children.into_iter().map(NoteRecord::from_core).collect())
    }

    // ---- Conflicts ----

    /// Every value that lost a concurrent edit, for a supervisor to review.
    pub fn list_conflicts(&self) -> Result<Vec<Conflict>> {
        let conflicts = self.store().list_conflicts()?;
        Ok(conflicts.into_iter().map(Conflict::from).collect())
    }

    /// Restores the losing value or keeps the current one. The decision syncs: the conflict
    /// disappears on every device once it arrives there.
    pub fn resolve_conflict(&self, conflict: Conflict, resolution: Resolution) -> Result<()> {
        let id = record_id("record_id", &conflict.record_id)?;
        let version = parse_version(&conflict.version)?;
        self.store()
            .resolve_conflict(&id, &conflict.field, version, resolution)?;
        Ok(())
    }
}
