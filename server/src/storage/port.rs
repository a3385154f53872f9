//! The narrow transactional port the service layer writes through: per-aggregate reads and
//! writes inside one transaction, and nothing that decides anything.
//!
//! [`crate::service`] owns every rule — which pushed operation is accepted, who an operation is
//! addressed to, what a device may see, what a referral transition does, what is audited. It
//! runs those rules inside one transaction opened by [`crate::storage::Storage::write_tx`] (or
//! `read_tx`), through the methods of [`StoreTx`]: read a device's progress, read and write a
//! record and its merged state, append an operation with the audiences the service computed,
//! compare-and-set a referral's status, append an audit entry, and so on. An implementation
//! stores and finds; it never filters by consent, never picks an audience, never words an
//! audit entry. Payloads and states are sealed by the implementation (at rest is its concern),
//! bound to the identity of what they hold.

use crate::storage::{Agency, AuditEntry, AuditLink, Position, StorageError};
use fieldcase_core::attachments::wire::{Declaration, UploadState};
use fieldcase_core::attachments::Sha256Digest;
use fieldcase_core::merge::RecordState;
use fieldcase_core::protocol::CommandOutcome;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{
    AgencyCode, DeviceId, FieldChange, Hlc, OpId, Operation, RecordId, RecordKind,
};
use std::collections::{BTreeMap, BTreeSet};

/// The fields of one operation.
pub type FieldMap = BTreeMap<String, FieldChange>;

/// One agency an operation is addressed to, and the field keys of it that agency may see
/// (`None`: every field).
pub type Audience = (AgencyCode, Option<BTreeSet<String>>);

/// A record as the server keeps it in the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub kind: RecordKind,
    pub owner_agency: AgencyCode,
    pub case_id: Option<RecordId>,
}

/// A referral as the server keeps it in the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRow {
    pub referral_id: RecordId,
    pub case_id: RecordId,
    pub from_agency: AgencyCode,
    pub to_agency: AgencyCode,
    pub status: ReferralStatus,
    pub transfer: bool,
    pub share_back: bool,
    /// The keys the referral shares (what the referring agency listed and held; delivery
    /// narrows them further to what consent allows at the time).
    pub shared_fields: BTreeSet<String>,
}

/// Where a device stands in its own sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceProgress {
    pub last_seq: u64,
    pub revoked: bool,
}

/// What the server holds about a device's own store (see [`crate::service::device_store`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreCounter {
    /// The highest rollback counter the store has sent.
    pub counter: u64,
    /// The store was found copied back from an older file or tampered with: refused for good.
    pub untrusted: bool,
}

/// An agency's access to a case's fields, granted by one referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseAccess {
    pub agency: AgencyCode,
    pub referral_id: RecordId,
    pub fields: BTreeSet<String>,
    /// The position from which it holds; `until` when it ended (a terminal status, a
    /// transfer accepted).
    pub from: Position,
    pub until: Option<Position>,
}

/// One row of the log as addressed to one agency, its payload still sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressedOp {
    pub position: Position,
    pub audience: AgencyCode,
    /// The field keys the audience may see (`None`: every field).
    pub listed: Option<BTreeSet<String>>,
    /// The record's owner when the operation was written.
    pub owner_agency: AgencyCode,
    pub op_id: OpId,
    pub kind: RecordKind,
    pub record_id: RecordId,
    pub hlc: Hlc,
    /// The sealed payload; [`StoreTx::open_payload`] opens it.
    pub payload: Vec<u8>,
}

/// An attachment as stored, its sealed description opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttachment {
    pub id: RecordId,
    pub case_id: RecordId,
    pub declared_by: AgencyCode,
    pub field: String,
    pub size: u64,
    pub chunk_size: u32,
    pub chunk_count: u32,
    pub content_type: String,
    pub label: Option<String>,
    pub sha256: Sha256Digest,
    pub created_at_ms: u64,
    pub complete: bool,
}

/// What happened to one stored chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStored {
    /// Chunks still missing.
    Missing(u32),
    /// Every chunk is here and the whole file matched its SHA-256.
    Complete,
    /// Every chunk was here but the file did not match: all were dropped.
    Mismatch,
}

/// One transaction's reads and writes. Every method runs inside the transaction the service
/// opened; nothing is visible to others until it commits, and an error rolls back all of it.
/// A case whose forms' rules between fields it breaks, kept for the owning agency's review
/// (written by [`crate::service::review`]).
#[derive(Clone, PartialEq, Eq)]
pub struct CaseReview {
    pub case_id: RecordId,
    /// The case's owner: the only agency that sees the flag.
    pub agency: AgencyCode,
    /// When the case last came to need review (kept while it goes on needing it).
    pub flagged_ms: u64,
    /// What the case breaks, as JSON `[{"field": …, "reason": …}]`: fields and rules only,
    /// never a value. Sealed at rest.
    pub reasons: String,
}

/// Names the case and when, not what it breaks (field names of an agency's forms stay out of
/// logs).
impl std::fmt::Debug for CaseReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseReview")
            .field("case_id", &self.case_id)
            .field("agency", &self.agency)
            .field("flagged_ms", &self.flagged_ms)
            .finish_non_exhaustive()
    }
}

pub trait StoreTx {
    // --- devices and agencies --------------------------------------------------------------
    fn device_progress(&mut self, device: DeviceId)
        -> Result<Option<DeviceProgress>, StorageError>;
    fn set_device_progress(
        &mut self,
        device: DeviceId,
        last_seq: u64,
        now_ms: u64,
    ) -> Result<(), StorageError>;
    /// What the server holds about the device's own store, if it ever reported one. On
    /// PostgreSQL the row is locked until the transaction ends.
    fn store_counter(&mut self, device: DeviceId) -> Result<Option<StoreCounter>, StorageError>;
    /// Creates or replaces what the server holds about the device's store.
    fn set_store_counter(
        &mut self,
        device: DeviceId,
        value: &StoreCounter,
    ) -> Result<(), StorageError>;
    fn agency_exists(&mut self, agency: &AgencyCode) -> Result<bool, StorageError>;
    /// Creates an agency; `AlreadyExists` when its code is taken.
    fn insert_agency(
        &mut self,
        code: &AgencyCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Agency, StorageError>;
    /// Every agency's code, ascending.
    fn agency_codes(&mut self) -> Result<Vec<AgencyCode>, StorageError>;

    // --- server settings ------------------------------------------------------------------
    /// The value of a server setting.
    fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Creates a server setting; `AlreadyExists` when the key is taken.
    fn insert_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Creates or replaces a server setting.
    fn put_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// The settings whose key starts with `prefix`, in byte order of their keys.
    fn settings_with_prefix(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// A secret setting (an agency's handoff key), sealed at rest with the server key and bound
    /// to its key, so it never sits in the database in the clear and cannot be moved to
    /// another key. `None` when unset.
    fn secret_setting(
        &mut self,
        key: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, StorageError>;
    /// Creates a secret setting; `AlreadyExists` when the key is taken.
    fn insert_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Creates or replaces a secret setting, sealed as [`StoreTx::secret_setting`] says.
    fn put_secret_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;

    // --- records and their merged state ----------------------------------------------------
    fn record(&mut self, id: RecordId) -> Result<Option<StoredRecord>, StorageError>;
    /// Creates the record row for `op` (the operation that creates it).
    fn insert_record(&mut self, op: &Operation, record: &StoredRecord) -> Result<(), StorageError>;
    fn set_record_owner(&mut self, id: RecordId, owner: &AgencyCode) -> Result<(), StorageError>;
    /// The records of one kind (owned by `owner` when given), with their owners, in no order.
    fn records_of_kind(
        &mut self,
        kind: RecordKind,
        owner: Option<&AgencyCode>,
    ) -> Result<Vec<(RecordId, AgencyCode)>, StorageError>;
    /// The agency whose device created the record.
    fn record_creator(&mut self, id: RecordId) -> Result<Option<AgencyCode>, StorageError>;
    /// The agency a device is enrolled in (`None` for an unknown device or the server's own).
    fn device_agency(&mut self, device: DeviceId) -> Result<Option<AgencyCode>, StorageError>;
    /// The fields of the operation that created the record.
    fn creation_fields(&mut self, id: RecordId) -> Result<Option<FieldMap>, StorageError>;
    /// The record's merged state (`None` for a record with no operations).
    fn record_state(&mut self, id: RecordId) -> Result<Option<RecordState>, StorageError>;
    /// Stores the record's merged state; `None` keeps none because the state is exactly the
    /// fold of what the log holds for the record (then [`StoreTx::record_state`] rebuilds it
    /// from the log: derived data is not kept twice).
    fn store_record_state(
        &mut self,
        id: RecordId,
        state: Option<&RecordState>,
    ) -> Result<(), StorageError>;
    /// Rewrites the report facts and match profile derived from a record's state.
    fn refresh_facts(&mut self, id: RecordId, state: &RecordState) -> Result<(), StorageError>;

    // --- the log --------------------------------------------------------------------------
    /// Appends `op` with one audience row per agency (duplicates ignored); returns its
    /// position. Positions of committed rows never appear below one a reader has seen.
    fn append(
        &mut self,
        op: &Operation,
        owner_agency: &AgencyCode,
        audiences: &[Audience],
    ) -> Result<Position, StorageError>;
    /// The highest position assigned (0 for an empty log).
    fn log_end(&mut self) -> Result<Position, StorageError>;
    /// Rows addressed to `agency` after `after`, ascending, at most `max_rows`.
    fn addressed_after(
        &mut self,
        agency: &AgencyCode,
        after: Position,
        max_rows: u32,
    ) -> Result<Vec<AddressedOp>, StorageError>;
    fn open_payload(&mut self, row: &AddressedOp) -> Result<FieldMap, StorageError>;
    /// The next id and timestamp for an operation the server writes itself.
    fn server_op_id(&mut self) -> Result<OpId, StorageError>;
    fn server_clock(&mut self, now_ms: u64) -> Result<Hlc, StorageError>;

    // --- referrals ------------------------------------------------------------------------
    fn referral(&mut self, id: RecordId) -> Result<Option<ReferralRow>, StorageError>;
    fn referrals_of_case(&mut self, case: RecordId) -> Result<Vec<ReferralRow>, StorageError>;
    fn insert_referral(&mut self, row: &ReferralRow, now_ms: u64) -> Result<(), StorageError>;
    /// Sets the status only if it is still `expected`; whether it did.
    fn compare_and_set_referral_status(
        &mut self,
        id: RecordId,
        expected: ReferralStatus,
        new: ReferralStatus,
        now_ms: u64,
    ) -> Result<bool, StorageError>;
    fn grant_case_access(
        &mut self,
        case: RecordId,
        access: &CaseAccess,
    ) -> Result<(), StorageError>;
    /// Ends the open access a referral granted, at `at`.
    fn end_case_access(&mut self, referral: RecordId, at: Position) -> Result<(), StorageError>;
    /// Every access granted to a case, open or ended.
    fn case_access(&mut self, case: RecordId) -> Result<Vec<CaseAccess>, StorageError>;
    /// The recorded outcome of a device's referral command.
    fn command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
    ) -> Result<Option<CommandOutcome>, StorageError>;
    fn store_command_outcome(
        &mut self,
        device: DeviceId,
        seq: u64,
        referral: RecordId,
        outcome: &CommandOutcome,
        now_ms: u64,
    ) -> Result<(), StorageError>;

    // --- retention ------------------------------------------------------------------------
    /// The records that hang on a case (services, notes, referrals, attachments), in no order.
    fn records_of_case(&mut self, case: RecordId) -> Result<Vec<RecordId>, StorageError>;
    /// Whether the record was purged ([`StoreTx::purge_records`]).
    fn is_purged(&mut self, id: RecordId) -> Result<bool, StorageError>;
    /// Purges records: removes their logged operations (and audiences), merged state, match
    /// profiles and blocks, attachments with their chunks and the access granted to them;
    /// keeps each record's row marked purged (so a late edit can be refused), its sealed
    /// report facts and its referral rows (codes), so figures for past periods hold.
    fn purge_records(&mut self, ids: &[RecordId], now_ms: u64) -> Result<(), StorageError>;

    // --- audit ----------------------------------------------------------------------------
    /// The last link of the audit chain (`None` while it is empty). It is the chain's
    /// serialization point: an implementation whose writers run concurrently makes every
    /// transaction that reads the head and appends after it commit one after the other
    /// (PostgreSQL: the position lock, taken here), and refuses a second entry at a sequence
    /// number already taken (so a transaction that read a stale head is run again).
    fn audit_head(&mut self) -> Result<Option<AuditLink>, StorageError>;
    /// Appends an entry at `link` (computed by [`crate::service::audit_chain`] from the head),
    /// with the checkpoint signature when it is one.
    fn append_audit(
        &mut self,
        entry: &AuditEntry,
        link: &AuditLink,
        signature: Option<&[u8]>,
    ) -> Result<(), StorageError>;

    // Cases that need review.
    fn case_review(&mut self, case: RecordId) -> Result<Option<CaseReview>, StorageError>;
    /// Records `review` for `case` (replacing any), or clears the case's flag when `None`.
    fn set_case_review(
        &mut self,
        case: RecordId,
        review: Option<&CaseReview>,
    ) -> Result<(), StorageError>;
    /// The flags of `agency`'s cases, oldest first.
    fn case_reviews(&mut self, agency: &AgencyCode) -> Result<Vec<CaseReview>, StorageError>;

    // --- attachments ----------------------------------------------------------------------
    fn attachment(&mut self, id: RecordId) -> Result<Option<StoredAttachment>, StorageError>;
    /// A case's attachments, oldest first.
    fn case_attachment_list(
        &mut self,
        case: RecordId,
    ) -> Result<Vec<StoredAttachment>, StorageError>;
    fn insert_attachment(
        &mut self,
        id: RecordId,
        declared_by: &AgencyCode,
        device: DeviceId,
        declaration: &Declaration,
        now_ms: u64,
    ) -> Result<(), StorageError>;
    /// The indexes of the chunks held for an attachment, ascending.
    fn held_chunks(&mut self, attachment: &StoredAttachment) -> Result<Vec<u32>, StorageError>;
    /// Which chunks an attachment still misses (none once complete), from [`StoreTx::held_chunks`].
    fn upload_state(&mut self, attachment: &StoredAttachment) -> Result<UploadState, StorageError> {
        let missing = if attachment.complete {
            Vec::new()
        } else {
            let held = self.held_chunks(attachment)?;
            (0..attachment.chunk_count)
                .filter(|i| held.binary_search(i).is_err())
                .collect()
        };
        Ok(UploadState {
            chunk_count: attachment.chunk_count,
            missing,
            complete: attachment.complete,
        })
    }
    /// Stores one chunk (already checked for index and length); a chunk held is kept.
    fn store_chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<ChunkStored, StorageError>;
    fn chunk(
        &mut self,
        attachment: &StoredAttachment,
        index: u32,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StorageError>;
}
