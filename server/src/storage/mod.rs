//! Everything the server keeps, behind one trait, and the narrow port the rules write through.
//!
//! [`Storage`] is what the HTTP layer sees for the directory (agencies, users, tokens,
//! devices), forms, report facts and duplicate decisions, and it opens the transactions of
//! [`crate::service`]: [`Storage::write_tx`] / [`Storage::read_tx`] hand the service a
//! [`port::StoreTx`] — per-aggregate reads and writes inside one transaction, with no domain
//! decision in them. Consent, audiences, visibility, referral effects and audit wording live in
//! [`crate::service`], once, for every implementation. [`sqlite::SqliteStorage`] is the embedded
//! default; [`postgres::PostgresStorage`] lets several stateless server processes share one
//! database. Both pass one conformance suite (`conformance`, exported behind the
//! `conformance` feature). Methods are synchronous and are called from `tokio::task::spawn_blocking`;
//! arguments and results are domain types (agency codes, device ids, log positions as `u64`),
//! never rows, SQL or connection handles; every method is one transaction. Payloads and states
//! are compressed, then sealed ([`packed`]).
//!
//! # The log and its positions
//!
//! Every accepted operation gets a *position* in the server's log; pulls read by position and
//! a device's cursor is the last position it has seen. That only works if **a pull never skips
//! a position that a slower transaction fills later**: once a cursor has passed position `p`,
//! nothing may ever appear below `p`.
//!
//! - SQLite has one writer at a time, so positions are assigned and committed in order: when
//!   a reader sees position `p`, every position below it is committed. Nothing more to do.
//! - PostgreSQL hands out sequence values at insert time but commits transactions in any
//!   order: transaction A takes 10, B takes 11 and commits, a pull returns 11 and moves the
//!   cursor past 10, then A commits 10 — never to be seen by that device. The PostgreSQL
//!   implementation makes positions commit in order by taking a transaction-scoped lock
//!   (`pg_advisory_xact_lock` on a constant key) *immediately before* it inserts its log rows
//!   and holding it to commit: a push validates and checks ownership concurrently with other
//!   pushes, and only "insert log rows + update `last_seq` + commit" is serialized — the same
//!   guarantee SQLite's writer gives, over a much shorter critical section. (A horizon based on
//!   transaction ids alone — only read rows whose xid is below the snapshot's `xmin` — is not
//!   enough: a transaction can take its xid early and its position late.) If that lock ever
//!   limits throughput, the alternative is to stop assigning positions inside push
//!   transactions: pushes append with a null position and one sequencer task numbers committed
//!   rows in commit order; pulls read only numbered rows. Either way the contract below holds.
//!   The conformance check `commit_order_race_never_skips_a_position` forces this race (and
//!   fails when the lock is removed).
//!
//! # Referrals and visibility
//!
//! (Decided in [`crate::service`]; stored here.) Each operation is addressed, when appended, to
//! the agencies that may pull it (`op_audience`): the record's owner; for a case referred to another agency, that agency with
//! the fields the referral shares; a referral to both its agencies; a service or note of the
//! receiving agency also to the case's owner when the referral shares back. When a referral
//! is made, the server appends copies of the case's shared fields (server-authored, each
//! keeping its original version) addressed to the receiving agency, so it gets what exists on
//! its next pull; when a transfer is accepted the case's owner changes and new operations are
//! addressed to the new owner only. Pulls filter every row through
//! [`crate::service::visibility::visible_to`]. The server keeps each record's merged state (sealed) to
//! know a case's consent and fields.
//!
//! Contract every implementation keeps (the conformance tests check it):
//! positions increase strictly and are never reused; a position a pull has returned or
//! scanned past is never filled later; a pushed operation is applied at most once per
//! `(device, seq)`; a push's effects and the device's `last_seq` commit together or not at all.

#[cfg(any(test, feature = "conformance"))]
#[doc(hidden)]
pub mod conformance;
pub mod migrate;
pub mod packed;
pub mod port;
pub mod postgres;
pub(crate) mod sealed_decisions;
pub(crate) mod sealed_facts;
pub(crate) mod sealed_profile;
pub(crate) mod sealed_reviews;
pub mod sqlite;

use crate::credentials::SecretHash;
use crate::reports::facts::{CaseFactRow, FactFilter, ReferralFactRow, ServiceFactRow};
use crate::reports::matching::{BlockKey, BlockSlice, MatchProfile};
use crate::roles::{Grant, Role};
use fieldcase_core::model::Date;
use fieldcase_core::protocol::Rejection;
use fieldcase_core::{AgencyCode, DeviceId, Operation, RecordId};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A position in the server's operation log.
pub type Position = u64;

/// The work of one transaction, as the service layer hands it to [`Storage::write_tx`].
pub type TxWork<'a> = dyn FnMut(&mut dyn port::StoreTx) -> Result<(), StorageError> + 'a;

/// Runs `work` in one write transaction of `storage` and returns what it produced.
pub fn write<T>(
    storage: &dyn Storage,
    mut work: impl FnMut(&mut dyn port::StoreTx) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let mut out = None;
    storage.write_tx(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    Ok(out.expect("a committed transaction ran its work"))
}

/// Runs `work` in one read-only snapshot of `storage` and returns what it produced.
pub fn read<T>(
    storage: &dyn Storage,
    mut work: impl FnMut(&mut dyn port::StoreTx) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let mut out = None;
    storage.read_tx(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    Ok(out.expect("a finished snapshot ran its work"))
}

/// A partner agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agency {
    pub code: AgencyCode,
    pub name: String,
    pub created_at_ms: u64,
}

/// A person who uses the system (staff, not beneficiaries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// A UUID assigned by the server.
    pub id: String,
    pub agency: AgencyCode,
    pub role: Role,
    pub display_name: String,
    pub created_at_ms: u64,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub agency: AgencyCode,
    pub role: Role,
    pub display_name: String,
}

/// An enrolled device, as admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub agency: AgencyCode,
    pub user_id: String,
    pub label: String,
    pub created_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
    pub last_seen_at_ms: Option<u64>,
    /// The highest sequence number of this device the server has processed.
    pub last_seq: u64,
}

/// An authenticated device, as the sync service needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuth {
    pub id: DeviceId,
    pub agency: AgencyCode,
    pub user_id: String,
    pub role: Role,
    pub revoked: bool,
    pub last_seen_at_ms: Option<u64>,
    /// `last_seq` when the device authenticated.
    pub last_seq: u64,
    /// Which of the device's credentials was presented.
    pub credential: CredentialSlot,
    /// When the device's current credential was issued (its lifetime counts from here).
    pub credential_issued_at_ms: u64,
}

/// The credentials a device row knows (see `service::credentials`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialSlot {
    /// The credential in use.
    Current,
    /// The credential given in a sync reply, not used yet: its first use makes it current.
    Next,
    /// The credential the current one replaced: presented again, it is a copy.
    Retired,
    /// A next credential replaced by another before its first use (the current credential
    /// was used again meanwhile): presented, it shows two holders of this device's credential.
    Superseded,
}

/// The device a redeemed enrollment code creates.
#[derive(Clone, Debug)]
pub struct NewDevice {
    pub id: DeviceId,
    pub label: String,
    pub credential_hash: SecretHash,
}

/// A successful enrollment.
#[derive(Clone, Debug)]
pub struct Enrollment {
    pub device: Device,
    pub role: Role,
}

/// An enrollment code to store (only its hash).
#[derive(Clone, Debug)]
pub struct NewEnrollmentCode {
    pub code_hash: SecretHash,
    pub user_id: String,
    pub agency: AgencyCode,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Who an admin token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminScope {
    /// The whole network.
    System,
    /// One agency's users and devices.
    Agency(AgencyCode),
}

impl AdminScope {
    /// The agency a query must be limited to; `None` for a system admin.
    pub fn agency(&self) -> Option<&AgencyCode> {
        match self {
            AdminScope::System => None,
            AdminScope::Agency(code) => Some(code),
        }
    }
}

/// An admin token to store.
#[derive(Clone, Debug)]
pub struct NewAdminToken {
    pub token_hash: SecretHash,
    pub scope: AdminScope,
    pub label: String,
    pub created_at_ms: u64,
    /// It stops working at this time.
    pub expires_at_ms: u64,
}

/// A live admin token, as the HTTP layer needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminAuth {
    /// The token's public id (never the secret nor its hash).
    pub id: String,
    pub scope: AdminScope,
}

/// An admin token as admins see it in a listing: no secret, no hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminTokenInfo {
    pub id: String,
    pub scope: AdminScope,
    pub label: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub last_used_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

/// A user's API token as admins see it in a listing: no secret, no hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: String,
    pub user_id: String,
    /// The user's agency.
    pub agency: AgencyCode,
    pub role: Role,
    /// The agency the token's reports are limited to; `None`: as the role allows.
    pub limited_to: Option<AgencyCode>,
    pub grants: BTreeSet<Grant>,
    pub label: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub last_used_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

/// An enrollment code as admins see it in a listing: no code, no hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentCodeInfo {
    pub id: String,
    pub user_id: String,
    pub agency: AgencyCode,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub used_at_ms: Option<u64>,
    pub revoked_at_ms: Option<u64>,
}

/// Device counts for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCounts {
    pub active: u64,
    pub revoked: u64,
}

/// What one push did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PushOutcome {
    /// The device's `last_seq` after the push.
    pub acked_through: u64,
    /// Operations applied (appended to the log, or recognized as an exact repeat of an
    /// append-only record's creation).
    pub applied: u32,
    /// Operations at or below the previous `last_seq`: already processed, skipped.
    pub skipped: u32,
    /// Operations refused; they count as processed.
    pub rejections: Vec<Rejection>,
    /// The push stopped at a sequence gap; the rest of the batch was not looked at.
    pub gap: bool,
}

/// Shared data of one record a pull delivers to a device of an agency that does not own it
/// (a referred case, a referral, a service shared back): audited before it leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub record_id: RecordId,
    pub first_position: Position,
    pub last_position: Position,
    pub ops: u32,
}

/// A published form version, as admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedForm {
    pub agency: AgencyCode,
    pub id: String,
    pub version: u32,
    pub title: std::collections::BTreeMap<String, String>,
    pub fields: usize,
    /// This call published it (false: it was already published with this definition).
    pub created: bool,
}

/// One page of a pull.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PullPage {
    /// Operations visible to the device, ascending by position, each holding only the fields
    /// the device may see.
    pub ops: Vec<Operation>,
    /// What of `ops` is shared data of another agency, per record, for the audit log.
    pub deliveries: Vec<Delivery>,
    /// The last position scanned (visible or not), or the position pulled from when nothing
    /// was scanned: the next pull starts after it.
    pub last_scanned: Position,
    /// More rows wait after `last_scanned`.
    pub more: bool,
    /// The highest position the log has assigned, for detecting a cursor from the future
    /// (a database restored from a backup).
    pub log_end: Position,
}

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    /// A referral was recorded (the sending agency's device).
    ReferralCreated,
    /// A referral transition was applied (the acting agency's device).
    ReferralTransition,
    /// A referral command was refused.
    CommandRefused,
    /// Shared data of another agency was delivered to a device in a pull.
    SharedDelivery,
    /// A referral's timeline was read.
    TimelineRead,
    /// A signed checkpoint of the audit chain ([`crate::service::audit_chain`]).
    Checkpoint,
    /// A closed case was purged under its agency's retention period.
    CasePurged,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::ReferralCreated => "referral_created",
            AuditEvent::ReferralTransition => "referral_transition",
            AuditEvent::CommandRefused => "command_refused",
            AuditEvent::SharedDelivery => "shared_delivery",
            AuditEvent::TimelineRead => "timeline_read",
            AuditEvent::Checkpoint => "checkpoint",
            AuditEvent::CasePurged => "case_purged",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AuditEvent::ReferralCreated,
            AuditEvent::ReferralTransition,
            AuditEvent::CommandRefused,
            AuditEvent::SharedDelivery,
            AuditEvent::TimelineRead,
            AuditEvent::Checkpoint,
            AuditEvent::CasePurged,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
    }
}

/// One audit entry. `detail` holds codes only (a transition, a status, a refusal code),
/// never a value or a reason text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_ms: u64,
    pub event: AuditEvent,
    /// The agency that acted or received.
    pub agency: AgencyCode,
    pub device: Option<DeviceId>,
    pub user_id: Option<String>,
    pub record_id: Option<RecordId>,
    pub first_position: Option<Position>,
    pub last_position: Option<Position>,
    pub ops: Option<u32>,
    pub detail: Option<String>,
}

/// Where an audit entry stands in the chain: its sequence number (1, 2, … without gaps) and
/// SHA-256 of the previous entry's hash and its own canonical bytes
/// ([`crate::service::audit_chain`] computes it; storage only keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditLink {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// An audit entry as stored: the entry, its link in the chain (`None`: a row that was never
/// chained, which verification reports) and, on a checkpoint, the server's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedAuditEntry {
    pub entry: AuditEntry,
    /// The stored sequence number; `None` for a row written outside the chain.
    pub seq: Option<u64>,
    pub hash: Option<[u8; 32]>,
    pub signature: Option<Vec<u8>>,
}

/// Which audit entries a scan visits (always in chain order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditSelect {
    /// Every entry, chained or not.
    All,
    /// Entries about one record.
    Record(RecordId),
    /// Entries of one user's acts.
    User(String),
    /// Signed checkpoints only.
    Checkpoints,
}

/// An API token to store (only its hash): a user's bearer token for reports and review.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub token_hash: SecretHash,
    pub user_id: String,
    /// Reports through this token are limited to this agency whatever the user's role (a
    /// token an agency admin issued); `None`: as the role allows (only a system admin issues
    /// such a token to an analyst).
    pub limited_to: Option<AgencyCode>,
    pub grants: BTreeSet<Grant>,
    pub label: String,
    pub created_at_ms: u64,
    /// It stops working at this time.
    pub expires_at_ms: u64,
}

/// The user behind a live API token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiTokenUser {
    pub user: User,
    /// See [`NewApiToken::limited_to`].
    pub limited_to: Option<AgencyCode>,
    pub grants: BTreeSet<Grant>,
}

/// A person's decision on a pair of cases: the same individual (`confirmed`) or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateDecision {
    /// The pair, `record_a < record_b` by bytes.
    pub record_a: RecordId,
    pub record_b: RecordId,
    pub confirmed: bool,
    pub decided_at_ms: u64,
    /// The user id (or `admin` for an admin token) who decided.
    pub decided_by: String,
}

/// What the review list shows of a case: no field of the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSummary {
    pub record: RecordId,
    pub agency: AgencyCode,
    pub intake_date: Option<Date>,
}

/// One case in a match block, with what scoring needs (review reads agencies and intake
/// dates of the pairs it lists through `case_summaries`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMember {
    pub record: RecordId,
    pub profile: MatchProfile,
}

/// A sample of match profiles and the size of the caseload it was drawn from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileSample {
    /// Cases with a match profile.
    pub cases: u64,
    pub profiles: Vec<MatchProfile>,
}

/// Storage failures. None carries a field value or a secret.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The thing to create exists already (names the kind of thing, not the value).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// A referenced thing does not exist (or is outside the caller's scope).
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the device was revoked")]
    DeviceRevoked,
    /// The device's store was copied back from an older file or tampered with
    /// ([`crate::service::device_store`]).
    #[error("the device's store is not trusted")]
    StoreUntrusted,
    /// A push broke the protocol in a way no operation-level rejection covers.
    #[error("{0}")]
    InvalidPush(&'static str),
    /// The request contradicts what is stored (an attachment declared differently before).
    #[error("{0}")]
    Conflict(&'static str),
    /// The request breaks a rule (names the rule, never a value).
    #[error("{0}")]
    Rejected(String),
    /// Stored data failed an integrity check (a sealed payload did not open).
    #[error("stored data failed an integrity check: {0}")]
    Integrity(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// The server's storage. One transaction per method; called from blocking threads.
pub trait Storage: Send + Sync + 'static {
    /// The random id made with this database. It is part of every cursor, so a device whose
    /// cursor came from another database (replaced, or restored and re-epoched) starts over.
    fn epoch(&self) -> &str;

    /// The highest position the log has assigned (0 when empty). It grows with every
    /// accepted or server-authored operation, so derived data (the duplicate candidates) can
    /// be reused while it stays the same.
    fn log_end(&self) -> Result<Position, StorageError>;

    // --- agencies, users, admin tokens -------------------------------------------------

    /// All agencies, or only `only` when given.
    fn list_agencies(&self, only: Option<&AgencyCode>) -> Result<Vec<Agency>, StorageError>;
    fn agency_exists(&self, code: &AgencyCode) -> Result<bool, StorageError>;
    /// Fails with `NotFound("agency")` when the agency does not exist.
    fn create_user(&self, user: &NewUser, now_ms: u64) -> Result<User, StorageError>;
    /// Users of one agency, or of all agencies.
    fn list_users(&self, agency: Option<&AgencyCode>) -> Result<Vec<User>, StorageError>;
    /// The user with this id, if it exists *and* belongs to `scope` (when given).
    fn user(&self, id: &str, scope: Option<&AgencyCode>) -> Result<Option<User>, StorageError>;
    /// Stores an admin token and returns its id. `NotFound("agency")` for an unknown agency.
    fn create_admin_token(&self, token: &NewAdminToken) -> Result<String, StorageError>;
    /// A live admin token: not revoked and not expired at `now_ms`. Records the use (at most
    /// every [`crate::config::LAST_USED_GRANULARITY_MS`]).
    fn admin_by_token(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<AdminAuth>, StorageError>;
    /// Whether any live (unrevoked, unexpired) system-admin token exists; first start makes
    /// one when not, so a network whose system tokens all expired can be recovered by whoever
    /// holds the data directory.
    fn has_system_admin(&self, now_ms: u64) -> Result<bool, StorageError>;

    // Lifecycle of admin tokens, API tokens and enrollment codes. `scope` limits every call
    // to one agency (an agency admin): admin tokens of that agency, API tokens and codes of
    // its users. Outside the scope is answered exactly like an unknown id (`None`). Revoking
    // something revoked changes nothing and returns it.

    /// Admin tokens, oldest first.
    fn list_admin_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<AdminTokenInfo>, StorageError>;
    fn revoke_admin_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<AdminTokenInfo>, StorageError>;
    /// In one transaction: stores `new` (same scope as the old token) and revokes the live
    /// token `old_id`, returning the new token's id. `None` (and nothing stored) when `old_id`
    /// is not a live token of `new.scope`.
    fn rotate_admin_token(
        &self,
        old_id: &str,
        new: &NewAdminToken,
        now_ms: u64,
    ) -> Result<Option<String>, StorageError>;
    /// API tokens of users (of `scope`'s agency), oldest first.
    fn list_api_tokens(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<ApiTokenInfo>, StorageError>;
    fn revoke_api_token(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<ApiTokenInfo>, StorageError>;
    /// Enrollment codes (used, unused, expired, revoked), oldest first.
    fn list_enrollment_codes(
        &self,
        scope: Option<&AgencyCode>,
    ) -> Result<Vec<EnrollmentCodeInfo>, StorageError>;
    fn revoke_enrollment_code(
        &self,
        id: &str,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<EnrollmentCodeInfo>, StorageError>;

    // --- enrollment and devices ----------------------------------------------------------

    /// Stores an enrollment code and returns its id.
    fn create_enrollment_code(&self, code: &NewEnrollmentCode) -> Result<String, StorageError>;
    /// In one transaction: finds an unused, unexpired, unrevoked code by hash, marks it used
    /// and creates the device. `None` when the code is unknown, used, expired or revoked
    /// (deliberately one answer).
    fn redeem_enrollment_code(
        &self,
        code_hash: &SecretHash,
        device: &NewDevice,
        now_ms: u64,
    ) -> Result<Option<Enrollment>, StorageError>;
    /// The device holding a credential (revoked or not).
    fn device_by_credential(
        &self,
        credential_hash: &SecretHash,
    ) -> Result<Option<DeviceAuth>, StorageError>;
    fn list_devices(&self, agency: Option<&AgencyCode>) -> Result<Vec<Device>, StorageError>;
    /// Revokes a device in `scope` (when given); `None` when there is no such device in scope.
    /// Revoking a revoked device changes nothing and returns it.
    fn revoke_device(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError>;
    /// Records that a device synced.
    fn touch_device(&self, id: DeviceId, now_ms: u64) -> Result<(), StorageError>;
    /// Stores the hash of the device's next credential, replacing one stored before and never
    /// used (its reply was lost, or a copy of the current credential asked), which is kept as
    /// superseded.
    fn stage_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
    ) -> Result<(), StorageError>;
    /// Makes the staged credential `next_hash` current from `now_ms`, retiring the current one.
    /// `false` (nothing changed) when `next_hash` is not the device's staged credential.
    fn promote_device_credential(
        &self,
        id: DeviceId,
        next_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<bool, StorageError>;
    /// Restarts the lifetime of a device's current credential from `now_ms` (an admin renewing
    /// an expired device), in `scope` when given; `None` when there is no such device.
    fn renew_device_credential(
        &self,
        id: DeviceId,
        scope: Option<&AgencyCode>,
        now_ms: u64,
    ) -> Result<Option<Device>, StorageError>;
    fn device_counts(&self) -> Result<DeviceCounts, StorageError>;

    // --- the service layer's transactions (see [`port`]) -----------------------------------

    /// Runs `work` in one write transaction: committed when it returns `Ok`, rolled back
    /// otherwise. Log positions commit in the order they were assigned (SQLite: one writer;
    /// PostgreSQL: a lock held from the first append to commit). An implementation may run
    /// `work` more than once (PostgreSQL, after a serialization conflict): only the last run
    /// commits, so `work` must do nothing outside the transaction it is handed.
    fn write_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError>;

    /// Runs `work` in one read-only snapshot. Writes through it fail.
    fn read_tx(&self, work: &mut TxWork<'_>) -> Result<(), StorageError>;

    /// Audit entries, oldest first: of one record when given, else all.
    fn audit_log(&self, record: Option<RecordId>) -> Result<Vec<AuditEntry>, StorageError> {
        let select = match record {
            Some(id) => AuditSelect::Record(id),
            None => AuditSelect::All,
        };
        let mut out = Vec::new();
        self.scan_audit(&select, &mut |chained| out.push(chained.entry))?;
        Ok(out)
    }

    /// Calls `visit` with the audit entries `select` names, in one snapshot, in chain order
    /// (by sequence number; rows never chained last, in insertion order).
    fn scan_audit(
        &self,
        select: &AuditSelect,
        visit: &mut dyn FnMut(ChainedAuditEntry),
    ) -> Result<(), StorageError>;

    /// The key that signs audit checkpoints: derived from the server key this storage seals
    /// with (like [`Storage::cell_keys`]), so every process sharing the database signs alike
    /// and a copy of the database without the key cannot forge a checkpoint.
    fn audit_signing_key(&self) -> ed25519_dalek::SigningKey;

    // --- reports and duplicates ---------------------------------------------------------

    /// The record keys of published figures' noise
    /// ([`crate::reports::cellkey`]): derived from the server key this storage seals with, so
    /// every process sharing the database draws the same noise.
    fn cell_keys(&self) -> crate::reports::cellkey::CellKeys;

    /// Calls `visit` with the facts of every case in `filter`'s scope, one at a time (memory
    /// does not grow with the number of cases).
    fn scan_case_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(CaseFactRow),
    ) -> Result<(), StorageError>;

    /// Services in scope (by service date, provider agency, and the case's country), sorted
    /// by case.
    fn scan_service_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(ServiceFactRow),
    ) -> Result<(), StorageError>;

    /// Referrals in scope (by the day they reached the server, either agency, and the case's
    /// country), sorted by case.
    fn scan_referral_facts(
        &self,
        filter: &FactFilter,
        visit: &mut dyn FnMut(ReferralFactRow),
    ) -> Result<(), StorageError>;

    /// Every match block shared by at least two cases, with its members: `visit(block,
    /// member)` sorted by block. (A block of one case has no pair to compare.) A case in
    /// several blocks may be visited with one shared member; a block of more than
    /// `MAX_SCANNED_BLOCK_RECORDS` members may be cut to `MAX_SCANNED_BLOCK_RECORDS + 1` of
    /// them (it is skipped anyway). Only the blocks of `slice` are visited: a block is in it
    /// or out of it whole.
    fn scan_match_blocks(
        &self,
        slice: BlockSlice,
        visit: &mut dyn FnMut(&BlockKey, Arc<BlockMember>),
    ) -> Result<(), StorageError>;

    /// Up to `limit` match profiles spread over the whole caseload (not the most recent
    /// ones): the sample the duplicate model estimates how often features agree by chance
    /// from. Every backend picks the same ones — the profiles whose record ids are smallest
    /// by their last eight bytes (random in every id: a UUIDv7's random part, or a keyed
    /// hash), then by the whole id — so the same data gives the same review list whatever
    /// stores it.
    fn match_profile_sample(&self, limit: usize) -> Result<ProfileSample, StorageError>;

    /// Pairs a person confirmed as one individual.
    fn confirmed_duplicate_links(&self) -> Result<Vec<(RecordId, RecordId)>, StorageError>;

    /// Every decision taken.
    fn duplicate_decisions(&self) -> Result<Vec<DuplicateDecision>, StorageError>;

    /// Records (or replaces) a decision. `NotFound("case")` when either record is not a case.
    fn decide_duplicate(&self, decision: &DuplicateDecision) -> Result<(), StorageError>;

    /// The agency and intake date of cases, for the review list (unknown ids are left out).
    fn case_summaries(&self, cases: &[RecordId]) -> Result<Vec<CaseSummary>, StorageError>;

    /// Stores an API token and returns its id. `NotFound("user")` when the user does not
    /// exist.
    fn create_api_token(&self, token: &NewApiToken) -> Result<String, StorageError>;

    /// The user of a live API token (not revoked, not expired at `now_ms`). Records the use
    /// like [`Storage::admin_by_token`].
    fn api_token_user(
        &self,
        token_hash: &SecretHash,
        now_ms: u64,
    ) -> Result<Option<ApiTokenUser>, StorageError>;

    /// Revokes every live API token of a user (a lost laptop, a person who left), returning
    /// how many. Revoked tokens stop working on the next request. `NotFound("user")` when the
    /// user does not exist.
    fn revoke_api_tokens(&self, user_id: &str, now_ms: u64) -> Result<u64, StorageError>;

    /// Flushes and releases what the implementation holds (SQLite: checkpoints the WAL).
    fn close(&self);
}
