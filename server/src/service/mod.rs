//! The server's rules, in one place: every decision about what is accepted, who receives
//! what, what a referral does and what is audited.
//!
//! Each entry point runs its rules inside one transaction of the [`crate::storage::Storage`]
//! port, through the narrow reads and writes of [`crate::storage::port::StoreTx`], so every
//! backend (embedded SQLite, PostgreSQL) applies the very same rules and none of them is
//! written twice or in SQL:
//!
//! - [`push`]: the push loop (skip, gap, decide under [`rules`]), merging into record states;
//! - [`audience`]: who an operation is addressed to, and what of a case an agency holds;
//! - [`pull`]: what of the log a device may see ([`visibility`]), bounded by rows and bytes;
//! - [`referrals`]: making a referral, its transitions under [`commands`], its timeline;
//! - [`attachments`]: who may declare, upload and read an attachment;
//!   [`attachment_records`]: its record in the log, under the same rule;
//! - [`device_store`]: a device store's rollback counter, and the agency's device policy;
//! - [`forms`]: publishing form versions, for one agency or the whole network;
//!   [`form_versions`]: reading them back (parsed once per process) to check pushed answers;
//!   [`review`]: cases whose merged answers break a rule between fields, flagged for review;
//! - [`credentials`]: device credentials' expiry, rotation and copies;
//! - [`maintenance`]: the periodic housekeeping (checkpoints, retention);
//! - [`retention`]: how long an agency keeps closed cases, and purging them;
//! - [`audit`]: the wording of every audit entry, appended to a hash chain ([`audit_chain`]),
//!   checkpoints, verification and the trail an admin reads.
//!
//! Layers point down: `http` → `sync` → `service` → `storage` → `seal`. Nothing here knows
//! SQL; nothing in `storage` decides.

pub mod attachment_records;
pub mod attachments;
pub mod audience;
pub mod audit;
pub mod audit_chain;
pub mod commands;
pub mod credentials;
pub mod device_store;
pub mod form_versions;
pub mod forms;
pub mod handoff;
pub mod maintenance;
pub mod pull;
pub mod push;
pub mod referrals;
pub mod retention;
pub mod review;
pub mod rules;
pub mod visibility;

use crate::storage::{
    Agency, Delivery, DeviceAuth, Position, PublishedForm, PullPage, PushOutcome, Storage,
    StorageError,
};
use fieldcase_core::attachments::wire::{AttachmentInfo, ChunkReceipt, Declaration, UploadState};
use fieldcase_core::forms::FormDefinition;
use fieldcase_core::protocol::{CommandResult, ReferralCommand, ReferralTimeline};
use fieldcase_core::AgencyCode;
use fieldcase_core::{Operation, RecordId};

/// The service's entry points as methods of any storage, for callers that hold one
/// (`storage.push(…)` runs [`push::push`] over that storage's port).
pub trait Service {
    fn push(
        &self,
        device: &DeviceAuth,
        ops: &[Operation],
        now_ms: u64,
    ) -> Result<PushOutcome, StorageError>;
    fn pull(
        &self,
        device: &DeviceAuth,
        after: Position,
        limit: u32,
    ) -> Result<PullPage, StorageError>;
    fn apply_commands(
        &self,
        device: &DeviceAuth,
        commands: &[ReferralCommand],
        now_ms: u64,
    ) -> Result<Vec<CommandResult>, StorageError>;
    fn record_deliveries(
        &self,
        device: &DeviceAuth,
        deliveries: &[Delivery],
        now_ms: u64,
    ) -> Result<(), StorageError>;
    fn referral_timeline(
        &self,
        device: &DeviceAuth,
        referral: RecordId,
        now_ms: u64,
    ) -> Result<Option<ReferralTimeline>, StorageError>;
    fn declare_attachment(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        declaration: &Declaration,
        now_ms: u64,
    ) -> Result<UploadState, StorageError>;
    fn attachment_upload_state(
        &self,
        device: &DeviceAuth,
        id: RecordId,
    ) -> Result<Option<UploadState>, StorageError>;
    fn put_attachment_chunk(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        index: u32,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<ChunkReceipt, StorageError>;
    fn attachment_info(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        now_ms: u64,
    ) -> Result<Option<AttachmentInfo>, StorageError>;
    fn attachment_chunk(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        index: u32,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StorageError>;
    fn case_attachments(
        &self,
        device: &DeviceAuth,
        case: RecordId,
    ) -> Result<Option<Vec<AttachmentInfo>>, StorageError>;
    /// Creates an agency (`AlreadyExists("agency")` when the code is taken) with every
    /// network-wide form version published for it.
    fn create_agency(
        &self,
        code: &AgencyCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Agency, StorageError>;
    /// Publishes a (checked) form version for `agency` ([`forms`]): `created` is false when
    /// this definition was already published under this version, `AlreadyExists` when
    /// another was, `NotFound("agency")` when the agency does not exist.
    fn publish_form(
        &self,
        agency: &AgencyCode,
        form: &FormDefinition,
        now_ms: u64,
    ) -> Result<PublishedForm, StorageError>;
    /// Publishes a form version for every agency, now and later ([`forms`]).
    fn publish_network_form(
        &self,
        form: &FormDefinition,
        now_ms: u64,
    ) -> Result<Vec<PublishedForm>, StorageError>;
    /// The published form versions of one agency, or of all.
    fn list_forms(&self, agency: Option<&AgencyCode>) -> Result<Vec<PublishedForm>, StorageError>;
}

impl Service for dyn Storage {
    fn push(
        &self,
        device: &DeviceAuth,
        ops: &[Operation],
        now_ms: u64,
    ) -> Result<PushOutcome, StorageError> {
        push::push(self, device, ops, now_ms)
    }
    fn pull(
        &self,
        device: &DeviceAuth,
        after: Position,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        pull::pull(self, device, after, limit)
    }
    fn apply_commands(
        &self,
        device: &DeviceAuth,
        commands: &[ReferralCommand],
        now_ms: u64,
    ) -> Result<Vec<CommandResult>, StorageError> {
        referrals::apply_commands(self, device, commands, now_ms)
    }
    fn record_deliveries(
        &self,
        device: &DeviceAuth,
        deliveries: &[Delivery],
        now_ms: u64,
    ) -> Result<(), StorageError> {
        audit::record_deliveries(self, device, deliveries, now_ms)
    }
    fn referral_timeline(
        &self,
        device: &DeviceAuth,
        referral: RecordId,
        now_ms: u64,
    ) -> Result<Option<ReferralTimeline>, StorageError> {
        referrals::timeline(self, device, referral, now_ms)
    }
    fn declare_attachment(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        declaration: &Declaration,
        now_ms: u64,
    ) -> Result<UploadState, StorageError> {
        attachments::declare(self, device, id, declaration, now_ms)
    }
    fn attachment_upload_state(
        &self,
        device: &DeviceAuth,
        id: RecordId,
    ) -> Result<Option<UploadState>, StorageError> {
        attachments::upload_state(self, device, id)
    }
    fn put_attachment_chunk(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        index: u32,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<ChunkReceipt, StorageError> {
        attachments::put_chunk(self, device, id, index, bytes, now_ms)
    }
    fn attachment_info(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        now_ms: u64,
    ) -> Result<Option<AttachmentInfo>, StorageError> {
        attachments::attachment_info(self, device, id, now_ms)
    }
    fn attachment_chunk(
        &self,
        device: &DeviceAuth,
        id: RecordId,
        index: u32,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        attachments::attachment_chunk(self, device, id, index, now_ms)
    }
    fn case_attachments(
        &self,
        device: &DeviceAuth,
        case: RecordId,
    ) -> Result<Option<Vec<AttachmentInfo>>, StorageError> {
        attachments::case_attachments(self, device, case)
    }
    fn create_agency(
        &self,
        code: &AgencyCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Agency, StorageError> {
        forms::create_agency(self, code, name, now_ms)
    }
    fn publish_form(
        &self,
        agency: &AgencyCode,
        form: &FormDefinition,
        now_ms: u64,
    ) -> Result<PublishedForm, StorageError> {
        forms::publish(self, agency, form, now_ms)
    }
    fn publish_network_form(
        &self,
        form: &FormDefinition,
        now_ms: u64,
    ) -> Result<Vec<PublishedForm>, StorageError> {
        forms::publish_network(self, form, now_ms)
    }
    fn list_forms(&self, agency: Option<&AgencyCode>) -> Result<Vec<PublishedForm>, StorageError> {
        forms::list(self, agency)
    }
}
