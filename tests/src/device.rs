//! A test device: core's encrypted store and sync client, exactly as a phone runs them.
//!
//! [`TestDevice::enroll`] does what the app does on first launch: an admin makes a user and a
//! one-time code, the device exchanges the code for a credential (`POST /v1/enroll` on the
//! server), creates its store (fast KDF, so tests can make many) and remembers the sync URL —
//! the server's, or a [`crate::FaultProxy`]'s in front of it. Local edits go through the
//! store's public API; syncs through `sync_once` / `sync_with_retry`.
//!
//! [`TestDevice::snapshot`] reads everything a comparison needs (every case's owner, fields
//! and conflicts, and the store's conflict list) so tests can assert that devices converged.
//! Helpers panic on local store failures: in a test, those are failures.

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::merge::Conflict;
use fieldcase_core::model::{Case, Fields};
use fieldcase_core::sample::SampleCases;
use fieldcase_core::store::{
    ConflictEntry, Durability, Identity, OpenOptions, Store, StoreStatus, SyncProgress,
};
use fieldcase_core::sync::{self, RetryPolicy, SyncClient, SyncError, SyncOutcome};
use fieldcase_core::{AgencyCode, Hlc, Operation, RecordId};
use fieldcase_server::admin_client::AdminClient;
use fieldcase_server::roles::Role;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The passphrase of every test store.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// A retry policy for tests: the same backoff logic as production, in milliseconds instead of
/// seconds, so a test that provokes failures does not sit out real backoffs.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        max_attempts: Some(max_attempts),
    }
}

/// How a device's store is opened.
#[derive(Clone, Copy, Debug)]
pub struct DeviceOptions {
    pub durability: Durability,
    /// Pull page size; the protocol default when `None`.
    pub pull_limit: Option<u32>,
}

impl Default for DeviceOptions {
    /// `Durability::Normal`: survives a killed process (all these tests do), not a power cut,
    /// and keeps thousands of test writes fast.
    fn default() -> Self {
        DeviceOptions {
            durability: Durability::Normal,
            pull_limit: None,
        }
    }
}

/// The cheapest key derivation a production build accepts (Argon2id 19 MiB, t=2): quick
/// enough for tests, without a test-only feature that would leak into shipped builds.
pub const TEST_DEVICE_KDF: KdfParams = KdfParams {
    memory_kib: fieldcase_core::crypto::kdf::MIN_MEMORY_KIB,
    iterations: fieldcase_core::crypto::kdf::MIN_ITERATIONS,
    parallelism: 1,
};

fn open_options(options: &DeviceOptions) -> OpenOptions {
    OpenOptions {
        kdf: TEST_DEVICE_KDF,
        durability: options.durability,
    }
}

/// One case as a device holds it.
#[derive(Clone, PartialEq)]
pub struct CaseState {
    pub owner_agency: String,
    pub fields: Fields,
    pub conflicts: Vec<Conflict>,
}

/// Everything two devices of one agency must agree on once they have synced.
#[derive(Clone, PartialEq, Default)]
pub struct Snapshot {
    pub cases: BTreeMap<RecordId, CaseState>,
    /// `Store::list_conflicts`, as `(record, field, version, losing value)`, sorted.
    pub conflicts: Vec<(RecordId, String, Hlc, Value)>,
}

impl std::fmt::Debug for Snapshot {
    /// Ids, counts and field keys only: field values are (synthetic) personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("cases", &self.cases.len())
            .field("conflicts", &self.conflicts.len())
            .finish()
    }
}

impl Snapshot {
    /// Where `self` and `other` differ, naming record ids and field keys (never values).
    /// Empty when they are equal.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for id in self
            .cases
            .keys()
            .chain(other.cases.keys())
            .collect::<BTreeSet<_>>()
        {
            match (self.cases.get(id), other.cases.get(id)) {
                (Some(_), None) => out.push(format!("{id}: only on the first device")),
                (None, Some(_)) => out.push(format!("{id}: only on the second device")),
                (Some(a), Some(b)) if a != b => {
                    if a.owner_agency != b.owner_agency {
                        out.push(format!("{id}: owner agency differs"));
                    }
                    let keys: BTreeSet<_> = a.fields.keys().chain(b.fields.keys()).collect();
                    for key in keys {
                        if a.fields.get(key) != b.fields.get(key) {
                            out.push(format!("{id}: field {key} differs"));
                        }
                    }
                    if a.conflicts != b.conflicts {
                        out.push(format!(
                            "{id}: conflicts differ ({} vs {})",
                            a.conflicts.len(),
                            b.conflicts.len()
                        ));
                    }
                }
                _ => {}
            }
        }
        if self.conflicts != other.conflicts {
            out.push(format!(
                "conflict lists differ ({} vs {})",
                self.conflicts.len(),
                other.conflicts.len()
            ));
        }
        out
    }
}

/// A device: its store behind a mutex (as the app holds it) and a sync client.
pub struct TestDevice {
    pub name: String,
    pub agency: String,
    path: PathBuf,
    identity: Identity,
    store: Mutex<Store>,
    client: SyncClient,
    /// Operations written through this helper: the device's last sequence number.
    ops_made: AtomicU64,
}

impl std::fmt::Debug for TestDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDevice")
            .field("name", &self.name)
            .field("agency", &self.agency)
            .finish_non_exhaustive()
    }
}

impl TestDevice {
    /// Enrolls a new device of `agency`: makes a caseworker and a one-time code through
    /// `admin`, exchanges the code at `server_url`, and creates the store at `dir/NAME.db`,
    /// set to sync with `sync_url` (the server's URL, or a proxy's in front of it).
    pub async fn enroll(
        admin: &AdminClient,
        server_url: &str,
        sync_url: &str,
        agency: &str,
        dir: &Path,
        name: &str,
        options: DeviceOptions,
    ) -> anyhow::Result<TestDevice> {
        let user = admin.create_user(agency, Role::Caseworker, name).await?;
        let code = admin.enrollment_code(&user.id, None).await?;
        let enrolled = sync::enroll(server_url, &code.code, name).await?;
        anyhow::ensure!(
            enrolled.agency.as_str() == agency,
            "enrolled into another agency"
        );
        let identity = Identity {
            device: enrolled.device_id,
            agency: AgencyCode::parse(agency)?,
            user: enrolled.user_id,
        };
        let path = dir.join(format!("{name}.db"));
        let mut store = Store::create(&path, PASSPHRASE, None, identity, &open_options(&options))?;
        store.set_server(sync_url, &enrolled.credential)?;
        Self::from_store(name, store, options)
    }

    /// Opens an existing store (made by [`TestDevice::enroll`]) again, as the app does after
    /// it was killed. `ops_made` starts from `last_seq`, which the caller knows.
    pub fn open(
        path: &Path,
        name: &str,
        last_seq: u64,
        options: DeviceOptions,
    ) -> anyhow::Result<TestDevice> {
        let store = Store::open(path, PASSPHRASE, None, &open_options(&options))?;
        let device = Self::from_store(name, store, options)?;
        device.ops_made.store(last_seq, Ordering::SeqCst);
        Ok(device)
    }

    fn from_store(name: &str, store: Store, options: DeviceOptions) -> anyhow::Result<TestDevice> {
        let mut client = SyncClient::for_store(&store)?;
        if let Some(limit) = options.pull_limit {
            client = client.with_pull_limit(limit);
        }
        Ok(TestDevice {
            name: name.to_owned(),
            agency: store.identity().agency.as_str().to_owned(),
            path: store.path().to_owned(),
            identity: store.identity().clone(),
            store: Mutex::new(store),
            client,
            ops_made: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device_id(&self) -> String {
        self.identity.device.to_string()
    }

    /// The store, for anything the helpers do not cover. Local changes made through it are
    /// not counted in [`TestDevice::last_seq`].
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This device's sync client (its server or proxy, its credential).
    pub fn client(&self) -> &SyncClient {
        &self.client
    }

    /// Downloads an attachment into this device's store (see [`sync::fetch_attachment`]).
    pub async fn fetch_attachment(
        &self,
        id: &RecordId,
    ) -> Result<fieldcase_core::store::AttachmentMeta, SyncError> {
        sync::fetch_attachment(&self.store, &self.client, id).await
    }

    /// Closes the store (checkpointing its WAL) and hands back its path.
    pub fn close(self) -> PathBuf {
        let store = self
            .store
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        store.close().expect("closing the store");
        self.path
    }

    /// The sequence number of the last operation this device wrote through the helpers.
    pub fn last_seq(&self) -> u64 {
        self.ops_made.load(Ordering::SeqCst)
    }

    /// Records a case from its nested JSON form; returns its id.
    pub fn create_case(&self, case: &Value) -> RecordId {
        let case = Case::from_json(case).expect("a valid case");
        let id = self.store().create_case(&case).expect("creating a case");
        self.ops_made.fetch_add(1, Ordering::SeqCst);
        id
    }

    /// Records `n` generated cases; returns their ids in creation (= sequence) order.
    pub fn create_sample_cases(&self, samples: &mut SampleCases, n: usize) -> Vec<RecordId> {
        (0..n)
            .map(|_| self.create_case(&samples.next_case()))
            .collect()
    }

    /// Changes some fields of a case; returns the operation written (`None`: nothing changed).
    pub fn update_case(&self, id: &RecordId, changes: Fields) -> Option<Operation> {
        let op = self
            .store()
            .update_case(id, changes)
            .expect("updating a case");
        if op.is_some() {
            self.ops_made.fetch_add(1, Ordering::SeqCst);
        }
        op
    }

    /// Imports JSON Lines; returns how many cases were written.
    pub fn import_jsonl(&self, text: &str) -> u64 {
        let report = self
            .store()
            .import_jsonl(
                text.as_bytes(),
                &fieldcase_core::import::ImportOptions::default(),
                &mut |_| {},
            )
            .expect("importing");
        assert!(
            report.errors.is_empty(),
            "import errors: {:?}",
            report.errors
        );
        self.ops_made
            .fetch_add(report.totals.imported, Ordering::SeqCst);
        report.totals.imported
    }

    /// One `sync_once`.
    pub async fn sync(&self) -> Result<SyncOutcome, SyncError> {
        sync::sync_once(&self.store, &self.client, &|_| {}).await
    }

    /// One `sync_once`, reporting progress after every applied reply.
    pub async fn sync_with_progress(
        &self,
        progress: &(dyn Fn(&SyncProgress) + Send + Sync),
    ) -> Result<SyncOutcome, SyncError> {
        sync::sync_once(&self.store, &self.client, progress).await
    }

    /// `sync_with_retry` with `policy`.
    pub async fn sync_with_retry(&self, policy: &RetryPolicy) -> Result<SyncOutcome, SyncError> {
        sync::sync_with_retry(&self.store, &self.client, policy, &|_| {}).await
    }

    pub fn status(&self) -> StoreStatus {
        self.store().status().expect("reading the status")
    }

    pub fn count_cases(&self) -> u64 {
        self.store().count_cases(None).expect("counting cases")
    }

    pub fn case_ids(&self) -> BTreeSet<RecordId> {
        self.snapshot().cases.into_keys().collect()
    }

    pub fn has_case(&self, id: &RecordId) -> bool {
        self.store().get_case(id).is_ok()
    }

    pub fn case_fields(&self, id: &RecordId) -> Fields {
        self.store().get_case(id).expect("reading a case").fields
    }

    /// Every case (owner, fields, conflicts) and the conflict list.
    pub fn snapshot(&self) -> Snapshot {
        let store = self.store();
        let count = store.count_cases(None).expect("counting cases") as usize;
        let cases = store
            .list_cases(None, count, 0)
            .expect("listing cases")
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    CaseState {
                        owner_agency: c.owner_agency,
                        fields: c.fields,
                        conflicts: c.conflicts,
                    },
                )
            })
            .collect();
        let mut conflicts: Vec<_> = store
            .list_conflicts()
            .expect("listing conflicts")
            .into_iter()
            .map(
                |ConflictEntry {
                     record_id,
                     field,
                     version,
                     value,
                     ..
                 }| { (record_id, field, version, value) },
            )
            .collect();
        conflicts.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        Snapshot { cases, conflicts }
    }

    /// Operations the server refused, kept aside with their reasons.
    pub fn rejected_ops(&self) -> Vec<(Operation, String)> {
        self.store()
            .rejected_ops()
            .expect("reading refused operations")
    }
}
