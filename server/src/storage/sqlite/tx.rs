//! [`StoreTx`] over one SQLite transaction: the port the service layer writes through.

use super::{
    attachments, audit, device_store, directory, facts, oplog, referrals, retention, reviews,
    settings, state,
};
use crate::seal::Sealer;
use crate::storage::port::*;
use crate::storage::{Agency, AuditEntry, AuditLink, Position, StorageError};
use fieldcase_core::attachments::wire::Declaration;
use fieldcase_core::merge::RecordState;
use fieldcase_core::protocol::CommandOutcome;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, DeviceId, Hlc, OpId, Operation, RecordId, RecordKind};
use rusqlite::Transaction;

/// One open SQLite transaction and the key that seals what it writes.
pub(super) struct SqliteTx<'a, 'conn> {
    pub tx: &'a Transaction<'conn>,
    pub sealer: &'a Sealer,
}

impl StoreTx for SqliteTx<'_, '_> {
    fn device_progress(
        &mut self,
        device: DeviceId,
    ) -> Result<Option<DeviceProgress>, StorageError> {
        oplog::device_progress(self.tx, device)
    }

    fn set_device_progress(
        &mut self,
        device: DeviceId,
        last_seq: u64,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        oplog::set_device_progress(self.tx, device, last_seq, now_ms)
    }

    fn store_counter(&mut self, device: DeviceId) -> Result<Option<StoreCounter>, StorageError> {
        device_store::store_counter(self.tx, device)
    }

    fn set_store_counter(
        &mut self,
        device: DeviceId,
        value: &StoreCounter,
    ) -> Result<(), StorageError> {
        device_store::set_store_counter(self.tx, device, value)
    }

    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, StorageError> {
        directory::agency_exists(self.tx, agency)
    }

    fn insert_agency(
        &mut self,
        code: &AgencyCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Agency, StorageError> {
        directory::create_agency(self.tx, code, name, now_ms)
    }

    fn agency_codes(&mut self) -> Result<Vec<AgencyCode>, StorageError> {
        directory::agency_codes(self.tx)
    }

    fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        settings::setting(self.tx, key)
    }

    fn insert_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        settings::insert_setting(self.tx, key, value)
    }

    fn put_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        settings::put_setting(self.tx, key, value)
    }

    fn settings_with_prefix(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        settings::settings_with_prefix(self.tx, prefix)
    }

    fn secret_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StorageError> {
        let Some(sealed) = settings::setting(self.tx, key)? else {
            return Ok(None);
        };
        self.sealer
            .open(&crate::seal::secret_setting_ad(key), &sealed)
            .map(|plain| Some(zeroize::Zeroizing::new(plain)))
            .map_err(|_| StorageError::Integrity("a secret setting does not open".into()))
    }

    fn insert_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let sealed = self
            .sealer
            .seal(&crate::seal::secret_setting_ad(key), value);
        settings::insert_setting(self.tx, key, &sealed)
    }

    fn put_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let sealed = self
            .sealer
            .seal(&crate::seal::secret_setting_ad(key), value);
        settings::put_setting(self.tx, key, &sealed)
    }

    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, StorageError> {
        oplog::record(self.tx, id)
    }

    fn insert_record(&mut self, op: &Operation, record: &StoredRecord) -> Result<(), StorageError> {
        oplog::insert_record(self.tx, op, record)
    }

    fn set_record_owner(&mut self, id: RecordId, owner: &AgencyCode) -> Result<(), StorageError> {
        oplog::set_owner(self.tx, id, owner)
    }

    fn records_of_kind(
        &mut self,
        kind: RecordKind,
        owner: Option<&AgencyCode>,
    ) -> Result<Vec<(RecordId, AgencyCode)>, StorageError> {
        oplog::records_of_kind(self.tx, kind, owner)
    }

    fn record_creator(&mut self, id: RecordId) -> Result<Option<AgencyCode>, StorageError> {
        oplog::record_creator(self.tx, id)
    }

    fn device_agency(&mut self, device: DeviceId) -> Result<Option<AgencyCode>, StorageError> {
        oplog::device_agency(self.tx, device)
    }

    fn creation_fields(&mut self, id: RecordId) -> Result<Option<FieldMap>, StorageError> {
        oplog::creation_fields(self.tx, self.sealer, id)
    }

    fn record_state(&mut self, id: RecordId) -> Result<Option<RecordState>, StorageError> {
        state::load_state(self.tx, self.sealer, id)
    }

    fn store_record_state(
        &mut self,
        id: RecordId,
        record_state: Option<&RecordState>,
    ) -> Result<(), StorageError> {
        state::store_state(self.tx, self.sealer, id, record_state)
    }

    fn refresh_facts(
        &mut self,
        id: RecordId,
        record_state: &RecordState,
    ) -> Result<(), StorageError> {
        facts::refresh(self.tx, self.sealer, id, record_state)
    }

    fn append(
        &mut self,
        op: &Operation,
        owner_agency: &AgencyCode,
        audiences: &[Audience],
    ) -> Result<Position, StorageError> {
        state::append(self.tx, self.sealer, op, owner_agency, audiences)
    }

    fn log_end(&mut self) -> Result<Position, StorageError> {
        oplog::log_end(self.tx)
    }

    fn addressed_after(
        &mut self,
        agency: &AgencyCode,
        after: Position,
        max_rows: u32,
    ) -> Result<Vec<AddressedOp>, StorageError> {
        oplog::addressed_after(self.tx, agency, after, max_rows)
    }

    fn open_payload(&mut self, row: &AddressedOp) -> Result<FieldMap, StorageError> {
        state::open_fields(
            self.sealer,
            row.op_id,
            row.record_id,
            row.kind,
            &row.payload,
            i64::try_from(row.position).ok(),
        )
    }

    fn server_op_id(&mut self) -> Result<OpId, StorageError> {
        state::server_op_id(self.tx)
    }

    fn server_clock(&mut self, now_ms: u64) -> Result<Hlc, StorageError> {
        state::server_clock(self.tx, now_ms)
    }

    fn referral(&mut self, id: RecordId) -> Result<Option<ReferralRow>, StorageError> {
        referrals::referral_row(self.tx, id)
    }

    fn referrals_of_case(&mut self, case: RecordId) -> Result<Vec<ReferralRow>, StorageError> {
        referrals::of_case(self.tx, case)
    }

    fn insert_referral(&mut self, row: &ReferralRow, now_ms: u64) -> Result<(), StorageError> {
        referrals::insert(self.tx, row, now_ms)
    }

    fn compare_and_set_referral_status(
        &mut self,
        id: RecordId,
        expected: ReferralStatus,
        new: ReferralStatus,
        now_ms: u64,
    ) -> Result<bool, StorageError> {
        referrals::compare_and_set_status(self.tx, id, expected, new, now_ms)
    }

    fn grant_case_access(
        &mut self,
        case: RecordId,
        access: &CaseAccess,
    ) -> Result<(), StorageError> {
        referrals::grant_access(self.tx, case, access)
    }

    fn end_case_access(&mut self, referral: RecordId, at: Position) -> Result<(), StorageError> {
        referrals::end_access(self.tx, referral, at)
    }

    fn case_access(&mut self, case: RecordId) -> Result<Vec<CaseAccess>, StorageError> {
        referrals::access_of_case(self.tx, case)
    }

    fn command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
    ) -> Result<Option<CommandOutcome>, StorageError> {
        referrals::command_outcome(self.tx, device, seq)
    }

    fn store_command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
        referral: RecordId,
        outcome: &CommandOutcome,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        referrals::store_command_outcome(self.tx, device, seq, referral, outcome, now_ms)
    }

    fn records_of_case(&mut self, case: RecordId) -> Result<Vec<RecordId>, StorageError> {
        retention::records_of_case(self.tx, case)
    }

    fn is_purged(&mut self, id: RecordId) -> Result<bool, StorageError> {
        retention::is_purged(self.tx, id)
    }

    fn purge_records(&mut self, ids: &[RecordId], now_ms: u64) -> Result<(), StorageError> {
        retention::purge(self.tx, self.sealer, ids, now_ms)
    }

    fn audit_head(&mut self) -> Result<Option<AuditLink>, StorageError> {
        audit::head(self.tx)
    }

    fn append_audit(
        &mut self,
        entry: &AuditEntry,
        link: &AuditLink,
        signature: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        audit::insert(self.tx, entry, link, signature)
    }

    fn case_review(&mut self, case: RecordId) -> Result<Option<CaseReview>, StorageError> {
        reviews::load(self.tx, self.sealer, case)
    }

    fn set_case_review(
        &mut self,
        case: RecordId,
        review: Option<&CaseReview>,
    ) -> Result<(), StorageError> {
        reviews::store(self.tx, self.sealer, case, review)
    }

    fn case_reviews(&mut self, agency: &AgencyCode) -> Result<Vec<CaseReview>, StorageError> {
        reviews::of_agency(self.tx, self.sealer, agency)
    }

    fn attachment(&mut self, id: RecordId) -> Result<Option<StoredAttachment>, StorageError> {
        attachments::load(self.tx, self.sealer, id)
    }

    fn case_attachment_list(
        &mut self,
        case: RecordId,
    ) -> Result<Vec<StoredAttachment>, StorageError> {
        attachments::of_case(self.tx, self.sealer, case)
    }

    fn insert_attachment(
        &mut self,
        id: RecordId,
        declared_by: &AgencyCode,
        device: DeviceId,
        declaration: &Declaration,
        now_ms: u64,
    ) -> Result<(), StorageError> {
        attachments::insert(
            self.tx,
            self.sealer,
            id,
            declared_by,
            device,
            declaration,
            now_ms,
        )
    }

    fn held_chunks(&mut self, attachment: &StoredAttachment) -> Result<Vec<u32>, StorageError> {
        attachments::held_chunks(self.tx, attachment.id)
    }

    fn store_chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<ChunkStored, StorageError> {
        attachments::store_chunk(self.tx, self.sealer, attachment, index, bytes, now_ms)
    }

    fn chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError> {
        attachments::open_chunk(self.tx, self.sealer, attachment, index)
    }
}
