//! A storage that fails the Nth write of its transactions: a wrapper around a real
//! [`Storage`] (SQLite or PostgreSQL) whose write transactions hand the service a
//! [`StoreTx`] that delegates every call to the real one and counts the calls that write.
//! Armed at N, the Nth write call fails with [`StorageError::Backend`] — before it reaches
//! the database ([`Fault::Instead`]) or after the database did it ([`Fault::After`], so the
//! write is in the transaction and only a rollback removes it). Everything else, reads and
//! the [`Storage`] methods outside the service's transactions, is the real storage's.
//!
//! Whole scans of the match blocks can also be held ([`FaultyStorage::hold_whole_scans`]), to
//! see what a reviewer is served while the first comparison of a caseload runs.

use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::merge::RecordState;
use fieldcase_core::protocol::CommandOutcome;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, DeviceId, Hlc, OpId, Operation, RecordId, RecordKind};
use fieldcase_server::credentials::SecretHash;
use fieldcase_server::reports::facts::{CaseFactRow, FactFilter, ReferralFactRow, ServiceFactRow};
use fieldcase_server::reports::matching::{BlockKey, BlockSlice};
use fieldcase_server::storage::port::*;
use fieldcase_server::storage::*;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// The text every injected failure carries.
pub const INJECTED: &str = "injected fault";

/// How the armed write fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The write call fails without reaching the database.
    Instead,
    /// The database does the write, then the call reports a failure.
    After,
}

/// The countdown shared by a storage and the transactions it opens.
#[derive(Default)]
pub struct Faults {
    /// The write call (1-based) that fails; 0 when disarmed.
    fail_at: AtomicU64,
    /// Write calls counted since the last arming.
    writes: AtomicU64,
    /// 0: [`Fault::Instead`], 1: [`Fault::After`].
    mode: AtomicU8,
}

/// A real storage whose write transactions fail where [`FaultyStorage::arm`] says.
pub struct FaultyStorage<S> {
    inner: S,
    faults: Faults,
    /// Read by every whole scan of the match blocks; held for writing, it holds them.
    whole_scans: std::sync::RwLock<()>,
}

impl<S> FaultyStorage<S>
where
    S: std::ops::Deref + Send + Sync + 'static,
    S::Target: Storage,
{
    pub fn new(inner: S) -> FaultyStorage<S> {
        FaultyStorage {
            inner,
            faults: Faults::default(),
            whole_scans: std::sync::RwLock::new(()),
        }
    }

    /// Holds every scan of all the match blocks (not of a slice) until the guard drops.
    pub fn hold_whole_scans(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.whole_scans
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The real storage underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes the `n`th write call from now on fail as `fault` says.
    pub fn arm(&self, n: u64, fault: Fault) {
        self.faults.writes.store(0, Ordering::SeqCst);
        self.faults
            .mode
            .store((fault == Fault::After) as u8, Ordering::SeqCst);
        self.faults.fail_at.store(n, Ordering::SeqCst);
    }

    /// Stops failing writes; returns how many write calls were made since arming.
    pub fn disarm(&self) -> u64 {
        self.faults.fail_at.store(0, Ordering::SeqCst);
        self.faults.writes.load(Ordering::SeqCst)
    }
}

/// The service's view of one transaction: the real one, with write calls counted.
struct FaultyTx<'a, 'tx> {
    inner: &'a mut (dyn StoreTx + 'tx),
    faults: &'a Faults,
}

impl FaultyTx<'_, '_> {
    /// Runs one write call of the real transaction, failing it when it is the armed one.
    fn write<T>(
        &mut self,
        name: &str,
        call: impl FnOnce(&mut dyn StoreTx) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let n = self.faults.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let armed = n == self.faults.fail_at.load(Ordering::SeqCst);
        let after = self.faults.mode.load(Ordering::SeqCst) == 1;
        let injected = || StorageError::Backend(format!("{INJECTED} at write {n} ({name})"));
        if armed && !after {
            return Err(injected());
        }
        let value = call(&mut *self.inner)?;
        if armed {
            return Err(injected());
        }
        Ok(value)
    }
}

impl<S> Storage for FaultyStorage<S>
where
    S: std::ops::Deref + Send + Sync + 'static,
    S::Target: Storage,
{
    fn epoch(&self) -> &str {
        self.inner.epoch()
    }
    fn log_end(&self) -> Result<Position, StorageError> {
        self.inner.log_end()
    }
    fn list_agencies(&self, only: Option<&AgencyCode>) -> Result<Vec<Agency>, StorageError> {
        self.inner.list_agencies(only)
    }
    fn agency_exists(&self, code: &AgencyCode) -> Result<bool, StorageError> {
        self.inner.agency_exists(code)
    }
    fn create_user(&self, user: &NewUser, now_ms: u64) -> Result<User, StorageError> {
        self.inner.create_user(user, now_ms)
    }
    fn list_users(&self, agency: Option<&AgencyCode>) -> Result<Vec<User>, StorageError> {
        self.inner.list_users(agency)
    }
    fn user(&self, id: &str, scope: Option<&AgencyCode>) -> Result<Option<User>, StorageError> {
        self.inner.user(id, scope)
    }
    fn create_admin_token(&self, token: &NewAdminToken) -> Result<String, StorageError> {
        self.inner.create_admin_token(token)
    }
    fn admin_by_token(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<AdminAuth>, StorageError> {
        self.inner.admin_by_token(token_hash, now_ms)
    }
    fn has_system_admin(&self, now_ms: u64) -> Result<bool, StorageError> {
        self.inner.has_system_admin(now_ms)
    }
    fn list_admin_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<AdminTokenInfo>, StorageError> {
        self.inner.list_admin_tokens(scope)
    }
    fn revoke_admin_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<AdminTokenInfo>, StorageError> {
        self.inner.revoke_admin_token(id, scope, now_ms)
    }
    fn rotate_admin_token(
        &self,
        old_id: &str,
        new: &NewAdminToken,
        now_ms: u64,
    ) -> Result<Option<String>, StorageError> {
        self.inner.rotate_admin_token(old_id, new, now_ms)
    }
    fn list_api_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<ApiTokenInfo>, StorageError> {
        self.inner.list_api_tokens(scope)
    }
    fn revoke_api_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<ApiTokenInfo>, StorageError> {
        self.inner.revoke_api_token(id, scope, now_ms)
    }
    fn list_enrollment_codes(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<EnrollmentCodeInfo>, StorageError> {
        self.inner.list_enrollment_codes(scope)
    }
    fn revoke_enrollment_code(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<EnrollmentCodeInfo>, StorageError> {
        self.inner.revoke_enrollment_code(id, scope, now_ms)
    }
    fn create_enrollment_code(&self, code: &NewEnrollmentCode) -> Result<String, StorageError> {
        self.inner.create_enrollment_code(code)
    }
    fn redeem_enrollment_code(
        &self,
        code_hash: &SecretHash,
        device: &NewDevice,
        now_ms: u64,
    ) -> Result<Option<Enrollment>, StorageError> {
        self.inner.redeem_enrollment_code(code_hash, device, now_ms)
    }
    fn device_by_credential(
        &self,
        credential_hash: &SecretHash,
    ) -> Result<Option<DeviceAuth>, StorageError> {
        self.inner.device_by_credential(credential_hash)
    }
    fn list_devices(&self, agency: Option<&AgencyCode>) -> Result<Vec<Device>, StorageError> {
        self.inner.list_devices(agency)
    }
    fn revoke_device(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError> {
        self.inner.revoke_device(id, scope, now_ms)
    }
    fn touch_device(&self, id: DeviceId, now_ms: u64) -> Result<(), StorageError> {
        self.inner.touch_device(id, now_ms)
    }
    fn stage_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
    ) -> Result<(), StorageError> {
        self.inner.stage_device_credential(id, next_hash)
    }
    fn promote_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<bool, StorageError> {
        self.inner.promote_device_credential(id, next_hash, now_ms)
    }
    fn renew_device_credential(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError> {
        self.inner.renew_device_credential(id, scope, now_ms)
    }
    fn device_counts(&self) -> Result<DeviceCounts, StorageError> {
        self.inner.device_counts()
    }
    fn read_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError> {
        self.inner.read_tx(work)
    }
    fn scan_audit(
        &self,
        select: &AuditSelect,
        visit: &mut dyn FnMut(ChainedAuditEntry),
    ) -> Result<(), StorageError> {
        self.inner.scan_audit(select, visit)
    }
    fn audit_signing_key(&self) -> ed25519_dalek::SigningKey {
        self.inner.audit_signing_key()
    }
    fn cell_keys(&self) -> fieldcase_server::reports::cellkey::CellKeys {
        self.inner.cell_keys()
    }
    fn scan_case_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(CaseFactRow),
    ) -> Result<(), StorageError> {
        self.inner.scan_case_facts(filter, visit)
    }
    fn scan_service_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(ServiceFactRow),
    ) -> Result<(), StorageError> {
        self.inner.scan_service_facts(filter, visit)
    }
    fn scan_referral_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(ReferralFactRow),
    ) -> Result<(), StorageError> {
        self.inner.scan_referral_facts(filter, visit)
    }
    fn scan_match_blocks(
        &self,
        slice: BlockSlice,
        visit: &mut dyn FnMut(&BlockKey, Arc<BlockMember>),
    ) -> Result<(), StorageError> {
        let _held = slice.is_all().then(|| {
            self.whole_scans
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
        self.inner.scan_match_blocks(slice, visit)
    }
    fn match_profile_sample(&self, limit: usize) -> Result<ProfileSample, StorageError> {
        self.inner.match_profile_sample(limit)
    }
    fn confirmed_duplicate_links(&self) -> Result<Vec<(RecordId, RecordId)>, StorageError> {
        self.inner.confirmed_duplicate_links()
    }
    fn duplicate_decisions(&self) -> Result<Vec<DuplicateDecision>, StorageError> {
        self.inner.duplicate_decisions()
    }
    fn decide_duplicate(&self, decision: &DuplicateDecision) -> Result<(), StorageError> {
        self.inner.decide_duplicate(decision)
    }
    fn case_summaries(&self, cases: &[RecordId]) -> Result<Vec<CaseSummary>, StorageError> {
        self.inner.case_summaries(cases)
    }
    fn create_api_token(&self, token: &NewApiToken) -> Result<String, StorageError> {
        self.inner.create_api_token(token)
    }
    fn api_token_user(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<ApiTokenUser>, StorageError> {
        self.inner.api_token_user(token_hash, now_ms)
    }
    fn revoke_api_tokens(&self, user_id: &str, now_ms: u64) -> Result<u64, StorageError> {
        self.inner.revoke_api_tokens(user_id, now_ms)
    }
    fn close(&self) {
        self.inner.close()
    }
    fn write_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError> {
        self.inner.write_tx(&mut |tx| {
            work(&mut FaultyTx {
                inner: tx,
                faults: &self.faults,
            })
        })
    }
}

impl StoreTx for FaultyTx<'_, '_> {
    fn device_progress(
        &mut self,
        device: DeviceId,
    ) -> Result<Option<DeviceProgress>, StorageError> {
        self.inner.device_progress(device)
    }
    fn set_device_progress(
        &mut self,
        device: DeviceId,
        last_seq: u64,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        self.write("set_device_progress", |tx| {
            tx.set_device_progress(device, last_seq, now_ms)
        })
    }
    fn store_counter(&mut self, device: DeviceId) -> Result<Option<StoreCounter>, StorageError> {
        self.inner.store_counter(device)
    }
    fn set_store_counter(
        &mut self,
        device: DeviceId,
        value: &StoreCounter,
    ) -> Result<(), StorageError> {
        self.write("set_store_counter", |tx| {
            tx.set_store_counter(device, value)
        })
    }
    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, StorageError> {
        self.inner.agency_exists(agency)
    }
    fn insert_agency(
        &mut self,
        code: &AgencyCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Agency, StorageError> {
        self.write("insert_agency", |tx| tx.insert_agency(code, name, now_ms))
    }
    fn agency_codes(&mut self) -> Result<Vec<AgencyCode>, StorageError> {
        self.inner.agency_codes()
    }
    fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.setting(key)
    }
    fn insert_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write("insert_setting", |tx| tx.insert_setting(key, value))
    }
    fn put_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write("put_setting", |tx| tx.put_setting(key, value))
    }
    fn secret_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StorageError> {
        self.inner.secret_setting(key)
    }
    fn insert_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write("insert_secret_setting", |tx| {
            tx.insert_secret_setting(key, value)
        })
    }
    fn put_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write("put_secret_setting", |tx| tx.put_secret_setting(key, value))
    }
    fn settings_with_prefix(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.inner.settings_with_prefix(prefix)
    }
    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, StorageError> {
        self.inner.record(id)
    }
    fn insert_record(&mut self, op: &Operation, record: &StoredRecord) -> Result<(), StorageError> {
        self.write("insert_record", |tx| tx.insert_record(op, record))
    }
    fn set_record_owner(&mut self, id: RecordId, owner: &AgencyCode) -> Result<(), StorageError> {
        self.write("set_record_owner", |tx| tx.set_record_owner(id, owner))
    }
    fn records_of_kind(
        &mut self,
        kind: RecordKind,
        owner: Option<&AgencyCode>,
    ) -> Result<Vec<(RecordId, AgencyCode)>, StorageError> {
        self.inner.records_of_kind(kind, owner)
    }
    fn record_creator(&mut self, id: RecordId) -> Result<Option<AgencyCode>, StorageError> {
        self.inner.record_creator(id)
    }
    fn device_agency(&mut self, device: DeviceId) -> Result<Option<AgencyCode>, StorageError> {
        self.inner.device_agency(device)
    }
    fn creation_fields(&mut self, id: RecordId) -> Result<Option<FieldMap>, StorageError> {
        self.inner.creation_fields(id)
    }
    fn record_state(&mut self, id: RecordId) -> Result<Option<RecordState>, StorageError> {
        self.inner.record_state(id)
    }
    fn store_record_state(
        &mut self,
        id: RecordId,
        state: Option<&RecordState>,
    ) -> Result<(), StorageError> {
        self.write("store_record_state", |tx| tx.store_record_state(id, state))
    }
    fn refresh_facts(&mut self, id: RecordId, state: &RecordState) -> Result<(), StorageError> {
        self.write("refresh_facts", |tx| tx.refresh_facts(id, state))
    }
    fn append(
        &mut self,
        op: &Operation,
        owner_agency: &AgencyCode,
        audiences: &[Audience],
    ) -> Result<Position, StorageError> {
        self.write("append", |tx| tx.append(op, owner_agency, audiences))
    }
    fn log_end(&mut self) -> Result<Position, StorageError> {
        self.inner.log_end()
    }
    fn addressed_after(
        &mut self,
        agency: &AgencyCode,
        after: Position,
        max_rows: u32,
    ) -> Result<Vec<AddressedOp>, StorageError> {
        self.inner.addressed_after(agency, after, max_rows)
    }
    fn open_payload(&mut self, row: &AddressedOp) -> Result<FieldMap, StorageError> {
        self.inner.open_payload(row)
    }
    fn server_op_id(&mut self) -> Result<OpId, StorageError> {
        self.write("server_op_id", |tx| tx.server_op_id())
    }
    fn server_clock(&mut self, now_ms: u64) -> Result<Hlc, StorageError> {
        self.write("server_clock", |tx| tx.server_clock(now_ms))
    }
    fn referral(&mut self, id: RecordId) -> Result<Option<ReferralRow>, StorageError> {
        self.inner.referral(id)
    }
    fn referrals_of_case(&mut self, case: RecordId) -> Result<Vec<ReferralRow>, StorageError> {
        self.inner.referrals_of_case(case)
    }
    fn insert_referral(&mut self, row: &ReferralRow, now_ms: u64) -> Result<(), StorageError> {
        self.write("insert_referral", |tx| tx.insert_referral(row, now_ms))
    }
    fn compare_and_set_referral_status(
        &mut self,
        id: RecordId,
        expected: ReferralStatus,
        new: ReferralStatus,
        now_ms: u64,
    ) -> Result<bool, StorageError> {
        self.write("compare_and_set_referral_status", |tx| {
            tx.compare_and_set_referral_status(id, expected, new, now_ms)
        })
    }
    fn grant_case_access(
        &mut self,
        case: RecordId,
        access: &CaseAccess,
    ) -> Result<(), StorageError> {
        self.write("grant_case_access", |tx| tx.grant_case_access(case, access))
    }
    fn end_case_access(&mut self, referral: RecordId, at: Position) -> Result<(), StorageError> {
        self.write("end_case_access", |tx| tx.end_case_access(referral, at))
    }
    fn case_access(&mut self, case: RecordId) -> Result<Vec<CaseAccess>, StorageError> {
        self.inner.case_access(case)
    }
    fn command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
    ) -> Result<Option<CommandOutcome>, StorageError> {
        self.inner.command_outcome(device, seq)
    }
    fn store_command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
        referral: RecordId,
        outcome: &CommandOutcome,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        self.write("store_command_outcome", |tx| {
            tx.store_command_outcome(device, seq, referral, outcome, now_ms)
        })
    }
    fn records_of_case(&mut self, case: RecordId) -> Result<Vec<RecordId>, StorageError> {
        self.inner.records_of_case(case)
    }
    fn is_purged(&mut self, id: RecordId) -> Result<bool, StorageError> {
        self.inner.is_purged(id)
    }
    fn purge_records(&mut self, ids: &[RecordId], now_ms: u64) -> Result<(), StorageError> {
        self.write("purge_records", |tx| tx.purge_records(ids, now_ms))
    }
    fn audit_head(&mut self) -> Result<Option<AuditLink>, StorageError> {
        self.inner.audit_head()
    }
    fn append_audit(
        &mut self,
        entry: &AuditEntry,
        link: &AuditLink,
        signature: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        self.write("append_audit", |tx| tx.append_audit(entry, link, signature))
    }
    fn case_review(&mut self, case: RecordId) -> Result<Option<CaseReview>, StorageError> {
        self.inner.case_review(case)
    }
    fn set_case_review(
        &mut self,
        case: RecordId,
        review: Option<&CaseReview>,
    ) -> Result<(), StorageError> {
        self.write("set_case_review", |tx| tx.set_case_review(case, review))
    }
    fn case_reviews(&mut self, agency: &AgencyCode) -> Result<Vec<CaseReview>, StorageError> {
        self.inner.case_reviews(agency)
    }
    fn attachment(&mut self, id: RecordId) -> Result<Option<StoredAttachment>, StorageError> {
        self.inner.attachment(id)
    }
    fn case_attachment_list(
        &mut self,
        case: RecordId,
    ) -> Result<Vec<StoredAttachment>, StorageError> {
        self.inner.case_attachment_list(case)
    }
    fn insert_attachment(
        &mut self,
        id: RecordId,
        declared_by: &AgencyCode,
        device: DeviceId,
        declaration: &Declaration,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        self.write("insert_attachment", |tx| {
            tx.insert_attachment(id, declared_by, device, declaration, now_ms)
        })
    }
    fn held_chunks(&mut self, attachment: &StoredAttachment) -> Result<Vec<u32>, StorageError> {
        self.inner.held_chunks(attachment)
    }
    fn store_chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<ChunkStored, StorageError> {
        self.write("store_chunk", |tx| {
            tx.store_chunk(attachment, index, bytes, now_ms)
        })
    }
    fn chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError> {
        self.inner.chunk(attachment, index)
    }
}
