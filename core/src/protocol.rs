//! The sync protocol: what crosses the wire between a device and the server.
//!
//! One definition, two ends: the server (`fieldcase-server`) and the device's sync client both
//! use these types. Documented for humans in `docs/protocol.md`.
//!
//! A sync is one `POST /v1/sync` whose body is a [`SyncRequest`] and whose reply is a
//! [`SyncResponse`], both JSON compressed with zstd ([`encode_body`] / [`decode_body`]). The
//! request carries the device's unacknowledged operations (in sequence order, at most
//! [`MAX_PUSH_OPS`]) and its pull cursor; the reply carries what the server applied
//! (`acked_through`), what it refused and why, the operations visible to this device since the
//! cursor (at most the page limit), and the next cursor. When `more` is set the device syncs
//! again at once. Every step is safe to retry: the server skips operations it has applied
//! (by `(device, seq)`) and the device advances its cursor only together with the page it
//! applied.
//!
//! This module does no I/O; it only defines messages, limits and the body codec.

use crate::ids::{DeviceId, RecordId};
use crate::merge::op::{OpId, Operation};
use crate::referral::{ReferralStatus, Transition};
use serde::{Deserialize, Serialize};

/// Version of this protocol; a request from a different major version is refused with
/// [`ErrorCode::UnsupportedProtocol`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Most operations a device pushes in one request. Bounded so one request's work on the
/// server (one transaction) stays short and a dropped 2G connection loses little.
pub const MAX_PUSH_OPS: usize = 500;

/// Most referral commands a device sends in one request. A person answers referrals one at a
/// time; a hundred covers a phone that was offline for weeks.
pub const MAX_PUSH_COMMANDS: usize = 100;

/// The device id the server writes its own operations under: referral status changes and the
/// copies of shared case fields it delivers to a receiving agency. Enrollment never issues it,
/// and a device op claiming it is refused. Devices accept referral status keys only from it.
pub const SERVER_DEVICE_ID: DeviceId = DeviceId(uuid::Uuid::from_u128(
    0x0000_0000_0000_4000_8000_5e7e_5e7e_5e7e,
));

/// The key of a purge notice: a server-authored operation on a case (from
/// [`SERVER_DEVICE_ID`]) holding only this key tells a device that the case was purged under
/// its agency's retention period; the device drops the case and everything that hangs on it.
/// Its own unsynced edits stay in its outbox, are refused by the server as
/// [`RejectReason::Purged`] and are kept aside with that reason.
pub const PURGED_FIELD: &str = "_purged";

/// Default and largest number of operations the server returns in one pull page. Sized so
/// a page of ~1.2 KB cases compresses to a few hundred KB: big enough for few round trips on
/// 2G, small enough that a dropped connection wastes little.
pub const DEFAULT_PULL_LIMIT: u32 = 1000;
pub const MAX_PULL_LIMIT: u32 = 5000;

/// Largest compressed body either end accepts, checked before anything is decompressed.
/// This is also the device's limit on a reply: the server keeps its pages far below it
/// ([`MAX_PULL_PAGE_BYTES`]).
pub const MAX_COMPRESSED_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Largest decompressed body either end accepts; decompression stops past it. 16 MiB holds a
/// push of [`MAX_PUSH_OPS`] typical cases (~1.2 KB each) more than twenty times over and the
/// largest pull page several times over; it is kept small because it also bounds the one
/// scratch buffer a single huge string can make the JSON reader grow (see [`crate::codec`]).
pub const MAX_DECOMPRESSED_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Largest field value, as the decoder counts it (text plus [`crate::codec::NODE_COST`] per
/// JSON node). It admits every value the case model admits: a note's text of 20 000
/// characters (at most 80 KB of UTF-8), and a form answer of 10 KiB of JSON even at its most
/// node-dense (`[0,0,…]`: 5 000 nodes, 320 KiB as counted). A value the model would refuse
/// anyway stops here, after a few thousand nodes.
pub const MAX_VALUE_BYTES: usize = 512 * 1024;

/// Largest operation, counted like [`MAX_VALUE_BYTES`] over all its values. A full case with
/// every core variable at its longest is about 30 KB; 2 MiB leaves room for a form with a
/// hundred long narrative answers, and it is what makes a pull page's size predictable: a
/// page is at most [`MAX_PULL_PAGE_BYTES`] plus one operation.
pub const MAX_OPERATION_BYTES: usize = 2 * 1024 * 1024;

/// Most fields one operation carries: the case model's [`crate::model::MAX_ANSWERS`] form
/// answers, its ~40 core variables and form references, with room to spare.
pub const MAX_FIELDS_PER_OPERATION: usize = 1_200;

/// Longest field key: `answers.` plus a 64-byte field id is 72 bytes; an answer in a repeat
/// instance (`answers.<repeat>.<instance>.<field>`) is bounded to this by the case model.
pub const MAX_FIELD_KEY_BYTES: usize = 128;

/// Deepest nesting of a field value: the model's deepest value (a list of documents, each an
/// object) is 2 levels; form answers are lists of choices.
pub const MAX_VALUE_DEPTH: usize = 8;

/// Most bytes of field values one pushed body carries in all, counted like
/// [`MAX_VALUE_BYTES`]. The server decodes at most as many bodies at once as it has sync
/// slots, so this times the slot count bounds the memory pushes can take. A device keeps
/// each push under [`MAX_PUSH_JSON_BYTES`] of JSON, well inside this.
pub const MAX_PUSH_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// The device's own bound on one push: it sends at most this much operation JSON per request
/// (and always at least one operation), so a push never comes near the server's limits. A
/// value is counted at most ~16 times its JSON (a list of short codes), so 1 MiB of JSON stays
/// within [`MAX_PUSH_VALUE_BYTES`]; it is still ~800 typical cases, more than
/// [`MAX_PUSH_OPS`].
pub const MAX_PUSH_JSON_BYTES: usize = 1024 * 1024;

/// Most bytes of operation JSON (`serde_json::to_vec(op).len()` summed) the server puts in
/// one pull page; a page always carries at least one operation, so a page is at most this plus
/// one operation ([`MAX_OPERATION_BYTES`]). Kept well below the device's reply limits
/// ([`MAX_COMPRESSED_BODY_BYTES`], and [`REPLY_LIMITS`] even for values counted ~16 times
/// their JSON) so a page always fits: a page too big for the device would be refused every
/// time it is asked for. 2 MiB is ~1 700 typical cases, more than [`DEFAULT_PULL_LIMIT`].
pub const MAX_PULL_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// Furthest in the future, by the server's clock, an operation's clock may be. Last writer
/// wins on the clock, so a device whose clock runs ahead wins every tie until real time
/// catches up; a rogue device stamping the year 2100 would win all of them forever. Six hours
/// covers a phone set to the wrong time zone with a few hours to spare (time zones differ
/// from UTC by at most 14 hours, but phones keep UTC and only display local time, so a
/// wrongly set zone usually moves UTC by the zone's offset: anything beyond a few hours is a
/// wrong clock, not a time zone). A refused operation is reported to the device as
/// [`RejectReason::ClockAhead`] with the server's time, so the app can tell its user to fix
/// the phone's clock.
pub const MAX_CLOCK_AHEAD_MS: u64 = 6 * 60 * 60 * 1000;

/// The bounds the server decodes a pushed [`SyncRequest`] under.
pub const PUSH_LIMITS: crate::codec::DecodeLimits = crate::codec::DecodeLimits {
    decompressed_bytes: MAX_DECOMPRESSED_BODY_BYTES,
    value_bytes: MAX_VALUE_BYTES,
    operation_bytes: MAX_OPERATION_BYTES,
    body_value_bytes: MAX_PUSH_VALUE_BYTES,
    depth: MAX_VALUE_DEPTH,
    fields_per_operation: MAX_FIELDS_PER_OPERATION,
    key_bytes: MAX_FIELD_KEY_BYTES,
};

/// The bounds a device decodes a [`SyncResponse`] under. A reply comes from the server, which
/// checked every device's value on the way in, and carries the server's own records: a form
/// definition is one value of up to `MAX_DEFINITION_BYTES` (2 MiB) of JSON, nested about 7
/// deep, which counts for up to ~13 MiB as a typical form and more if dense. So one value
/// or operation may use the whole budget; what stays bounded is the phone's memory for one
/// reply (the decompressed limit, and 64 MiB as counted in all).
pub const REPLY_LIMITS: crate::codec::DecodeLimits = crate::codec::DecodeLimits {
    value_bytes: MAX_REPLY_VALUE_BYTES,
    operation_bytes: MAX_REPLY_VALUE_BYTES,
    body_value_bytes: MAX_REPLY_VALUE_BYTES,
    depth: 32,
    ..PUSH_LIMITS
};

/// Most bytes of field values one reply carries in all, counted like [`MAX_VALUE_BYTES`]: four
/// times the decompressed limit, since a value counts several times its JSON.
pub const MAX_REPLY_VALUE_BYTES: usize = 4 * MAX_DECOMPRESSED_BODY_BYTES;

/// Content type of a compressed sync body.
pub const CONTENT_TYPE: &str = "application/vnd.fieldcase+json+zstd";

/// An opaque pull position issued by the server. Devices store it and send it back unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

/// Body of `POST /v1/sync`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub protocol: u32,
    /// Unacknowledged operations of this device, in ascending `op_id.seq`, with no gaps.
    #[serde(deserialize_with = "bounded_ops")]
    pub ops: Vec<Operation>,
    /// Where the last applied pull page ended; `None` for a first sync (or after a reset).
    pub cursor: Option<Cursor>,
    /// Page size the device asks for; the server caps it at [`MAX_PULL_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_limit: Option<u32>,
    /// Referral transitions this device asks for, in `command_id.s` order, at most
    /// [`MAX_PUSH_COMMANDS`]. The server applies them after the operations of this request.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bounded_commands"
    )]
    pub commands: Vec<ReferralCommand>,
    /// The store's rollback counter and tamper flag ([`StoreReport`]). Sent by every device
    /// built with an unlock guard; once a device has sent one, the server refuses a request
    /// without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreReport>,
    /// Offline handoff: the device's signing key, the directory it holds, the referrals it
    /// read from bundles ([`HandoffSync`]). The server applies these before the operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffSync>,
}

/// Most signed referrals one sync carries: a phone reads a handful of bundles a day.
pub const MAX_PUSH_HANDOFFS: usize = 50;

/// What a device sends about offline handoffs (`docs/handoff.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffSync {
    /// The device's Ed25519 public key, hex. Registered the first time; a different key for
    /// the same device later is refused.
    pub signing_key: String,
    /// The digest of the handoff directory the device holds; the server sends its directory
    /// when it differs (or when this is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_digest: Option<String>,
    /// Referrals this device read from bundles and the server has not answered yet, at most
    /// [`MAX_PUSH_HANDOFFS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrals: Vec<crate::handoff::SignedReferral>,
}

/// The server's answer about handoffs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffReply {
    /// The directory, when the device's digest was out of date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<HandoffDirectory>,
    /// One result per signed referral of the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<HandoffResult>,
}

/// What a phone needs to make and read bundles with no network: its own agency's secret key,
/// every agency's public key, and every device's signing key and whether it was revoked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffDirectory {
    pub digest: String,
    /// This device's agency's X25519 secret key, hex. Never logged (see `Debug`).
    pub agency_key: String,
    /// Agency code → X25519 public key, hex.
    pub agencies: std::collections::BTreeMap<crate::ids::AgencyCode, String>,
    pub devices: Vec<DirectoryDevice>,
}

impl std::fmt::Debug for HandoffDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffDirectory")
            .field("digest", &self.digest)
            .field("agencies", &self.agencies.len())
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

/// One device of the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryDevice {
    pub device: DeviceId,
    pub agency: crate::ids::AgencyCode,
    /// Its Ed25519 public key, hex.
    pub key: String,
    pub revoked: bool,
}

/// The server's answer to one signed referral.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffResult {
    pub bundle_id: crate::handoff::BundleId,
    pub referral_id: RecordId,
    pub outcome: HandoffOutcome,
}

/// Whether the server took a handed-over referral.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum HandoffOutcome {
    /// The server holds the referral (from this bundle, or because the referring phone synced
    /// first). `withdrawn` lists fields the bundle carried that the server does not share
    /// now (consent withdrawn meanwhile): the phone drops them.
    Reconciled {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        withdrawn: Vec<String>,
    },
    /// Refused: the phone drops what it imported from the bundle and shows why.
    Refused { code: String, reason: String },
    /// The server does not hold the case yet (the referring phone has not synced it): the
    /// phone presents the bundle again with its next sync, and its commands on the referral
    /// wait.
    Pending,
}

/// Reply to `POST /v1/sync`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The highest sequence number of this device the server has processed (applied or
    /// rejected); the device may drop everything up to it from its outbox.
    pub acked_through: u64,
    /// Operations the server refused, with why. They count as processed: the device keeps
    /// them aside for a person to see, it does not resend them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<Rejection>,
    /// Operations visible to this device after the request's cursor, in server order.
    pub ops: Vec<Operation>,
    /// The cursor after `ops`; apply `ops` and store this cursor in one transaction.
    pub next_cursor: Cursor,
    /// More operations are waiting after `next_cursor`, or pushed operations were left over.
    pub more: bool,
    /// The cursor sent is no longer valid (server restored, history compacted): drop the pull
    /// state and resync from `None`. Local unsynced work is kept and pushed as usual.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// The server's clock, so devices with wrong clocks can be warned.
    pub server_time_ms: u64,
    /// One result per command of the request (including commands resent after a lost reply,
    /// which get the result recorded the first time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_results: Vec<CommandResult>,
    /// A new credential for this device (rotation): store it, and send it from the next
    /// request on. The one this request carried keeps working until the new one is first used
    /// and is refused after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_credential: Option<Credential>,
    /// The agency's device policy (erase limit, lease), for the device to keep and enforce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_policy: Option<DevicePolicy>,
    /// The answer to the request's [`HandoffSync`], when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffReply>,
}

/// A device credential (a bearer secret) in a message. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credential(pub String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// A referral transition a device asks for. The server applies it only if the referral is
/// still in `expected_status` (compare-and-set) and the device's agency is the party allowed
/// to make it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCommand {
    /// `(device, command sequence)`: the device numbers its commands apart from its
    /// operations, from 1 without reuse. The server answers a resent id with the result it
    /// recorded.
    pub command_id: OpId,
    pub referral_id: RecordId,
    pub transition: Transition,
    /// The status the device saw when the person decided.
    pub expected_status: ReferralStatus,
    /// Why (required to decline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Debug for ReferralCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferralCommand")
            .field("command_id", &self.command_id)
            .field("referral_id", &self.referral_id)
            .field("transition", &self.transition)
            .field("expected_status", &self.expected_status)
            .field("reason", &self.reason.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the server did with one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: OpId,
    pub outcome: CommandOutcome,
}

/// Applied, with the status reached, or refused, with why and the status as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CommandOutcome {
    Applied {
        status: ReferralStatus,
    },
    Rejected {
        code: CommandRejection,
        /// The referral's status now; `None` when the referral is unknown to this device's
        /// agency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_status: Option<ReferralStatus>,
    },
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandRejection {
    /// No such referral for this agency: one that does not exist and one between other
    /// agencies get this same answer.
    UnknownReferral,
    /// This agency is the wrong party for the transition (only the receiver accepts, declines
    /// and completes; only the sender cancels).
    WrongAgency,
    /// The transition does not leave the referral's status.
    IllegalTransition,
    /// The referral is no longer in the expected status: someone else moved it first.
    StatusChanged,
    /// A decline without a reason.
    ReasonRequired,
    /// The reason is too long or holds control characters.
    InvalidReason,
}

impl CommandRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandRejection::UnknownReferral => "unknown_referral",
            CommandRejection::WrongAgency => "wrong_agency",
            CommandRejection::IllegalTransition => "illegal_transition",
            CommandRejection::StatusChanged => "status_changed",
            CommandRejection::ReasonRequired => "reason_required",
            CommandRejection::InvalidReason => "invalid_reason",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [
            CommandRejection::UnknownReferral,
            CommandRejection::WrongAgency,
            CommandRejection::IllegalTransition,
            CommandRejection::StatusChanged,
            CommandRejection::ReasonRequired,
            CommandRejection::InvalidReason,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }

    /// Plain language for the person who asked.
    pub fn explain(self) -> &'static str {
        match self {
            CommandRejection::UnknownReferral => {
                "the server knows no such referral for your agency"
            }
            CommandRejection::WrongAgency => "your agency is not the party that may do this",
            CommandRejection::IllegalTransition => "the referral's status does not allow this",
            CommandRejection::StatusChanged => {
                "someone else changed the referral first; see its current status"
            }
            CommandRejection::ReasonRequired => "declining needs a reason",
            CommandRejection::InvalidReason => "the reason is too long or holds control characters",
        }
    }
}

impl std::fmt::Display for CommandRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub op_id: OpId,
    pub reason: RejectReason,
}

/// Why an operation was refused. No reason ever carries a field's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RejectReason {
    /// The record belongs to an agency this device may not write to.
    Forbidden,
    /// The operation is malformed (names the field key or the rule, never the value).
    Invalid { detail: String },
    /// The record kind cannot be changed this way (an edit to an append-only record).
    NotEditable,
    /// The operation's clock is more than [`MAX_CLOCK_AHEAD_MS`] ahead of the server's: the
    /// device's clock is wrong. The device keeps the operation aside; once its clock is
    /// corrected, the person re-enters the change (see `docs/protocol.md`).
    ClockAhead {
        /// The operation's clock (`hlc.w`).
        op_time_ms: u64,
        /// The server's clock when it refused the operation.
        server_time_ms: u64,
    },
    /// The record (or the case it belongs to) was purged: its agency keeps closed cases only
    /// so long (`docs/security.md`, "Retention"). The device keeps the operation aside with
    /// this reason; nothing of it is applied anywhere.
    Purged,
}

/// Reply to `GET /v1/referrals/{referral_id}/timeline`: who did what to a referral, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralTimeline {
    pub referral_id: RecordId,
    pub case_id: RecordId,
    pub from_agency: crate::ids::AgencyCode,
    pub to_agency: crate::ids::AgencyCode,
    pub status: ReferralStatus,
    pub transfer: bool,
    pub share_back: bool,
    /// Oldest first; the first entry is the creation.
    pub entries: Vec<crate::referral::HistoryEntry>,
}

/// Body of `POST /v1/enroll`: exchanges a one-time code for a device credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    /// A label for admins ("Kampala phone 3"); not personal data.
    pub device_label: String,
}

/// Reply to a successful enrollment. The credential is shown once; the server keeps a hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: crate::ids::DeviceId,
    pub agency: crate::ids::AgencyCode,
    pub user_id: String,
    pub role: String,
    pub credential: String,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credential is a bearer secret: never in a log or a panic message.
        f.debug_struct("EnrollResponse")
            .field("device_id", &self.device_id)
            .field("agency", &self.agency)
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The JSON body of every error reply (4xx and 5xx), on every route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// Plain-language explanation. Never contains personal data.
    pub message: String,
}

/// Stable machine-readable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    /// The device was revoked: the device must wipe its local store.
    DeviceRevoked,
    /// The device credential outlived its lifetime without a sync: an admin renews the device.
    CredentialExpired,
    /// The credential was replaced by a newer one (rotation): this is a copy of an old one.
    CredentialReplaced,
    /// The device's store was copied back from an older file, or its unlock guard was
    /// edited: the server refuses it until an administrator has looked.
    StoreUntrusted,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnsupportedProtocol,
    TooManyRequests,
    Internal,
    Unavailable,
}

pub use crate::codec::{encode_body, CodecError, Limit, ZSTD_LEVEL};
pub use crate::device_policy::{DevicePolicy, StoreReport};

/// Decompresses and parses a message under the push limits ([`PUSH_LIMITS`]); see
/// [`crate::codec`].
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    crate::codec::decode_body_with(body, &PUSH_LIMITS)
}

/// Decompresses and parses a reply under [`REPLY_LIMITS`].
pub fn decode_reply<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    crate::codec::decode_body_with(body, &REPLY_LIMITS)
}

fn bounded_ops<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Operation>, D::Error> {
    crate::codec::bounded_seq(d, MAX_PUSH_OPS, Limit::Operations(MAX_PUSH_OPS))
}

fn bounded_commands<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ReferralCommand>, D::Error> {
    crate::codec::bounded_seq(d, MAX_PUSH_COMMANDS, Limit::Commands(MAX_PUSH_COMMANDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let request = SyncRequest {
            store: None,
            protocol: PROTOCOL_VERSION,
            ops: vec![],
            cursor: None,
            pull_limit: Some(10),
            commands: vec![],
            handoff: None,
        };
        let decoded: SyncRequest = decode_body(&encode_body(&request)).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn commands_and_results_have_a_stable_wire_form() {
        let device = DeviceId::from_bytes([1; 16]);
        let referral = RecordId::from_bytes([2; 16]);
        let command = ReferralCommand {
            command_id: OpId { device, seq: 3 },
            referral_id: referral,
            transition: Transition::Decline,
            expected_status: ReferralStatus::Sent,
            reason: Some("no bed".into()),
        };
        assert_eq!(
            serde_json::to_value(&command).unwrap(),
            serde_json::json!({
                "command_id": {"d": device, "s": 3}, "referral_id": referral,
                "transition": "decline", "expected_status": "sent", "reason": "no bed"
            })
        );
        assert!(!format!("{command:?}").contains("no bed"));
        let results = [
            CommandResult {
                command_id: command.command_id,
                outcome: CommandOutcome::Applied {
                    status: ReferralStatus::Declined,
                },
            },
            CommandResult {
                command_id: command.command_id,
                outcome: CommandOutcome::Rejected {
                    code: CommandRejection::StatusChanged,
                    current_status: Some(ReferralStatus::Accepted),
                },
            },
        ];
        assert_eq!(
            serde_json::to_value(&results).unwrap(),
            serde_json::json!([
                {"command_id": {"d": device, "s": 3}, "outcome": {"result": "applied", "status": "declined"}},
                {"command_id": {"d": device, "s": 3}, "outcome": {"result": "rejected", "code": "status_changed", "current_status": "accepted"}}
            ])
        );
        // An old device's request (no commands) and an old server's reply still parse.
        let old: SyncRequest =
            serde_json::from_str(r#"{"protocol":1,"ops":[],"cursor":null}"#).unwrap();
        assert!(old.commands.is_empty());
        let reply: SyncResponse = serde_json::from_str(
            r#"{"acked_through":0,"ops":[],"next_cursor":"e.0","more":false,"server_time_ms":1}"#,
        )
        .unwrap();
        assert!(reply.command_results.is_empty());
        for code in [
            CommandRejection::UnknownReferral,
            CommandRejection::WrongAgency,
            CommandRejection::IllegalTransition,
            CommandRejection::StatusChanged,
            CommandRejection::ReasonRequired,
            CommandRejection::InvalidReason,
        ] {
            assert_eq!(CommandRejection::parse(code.as_str()), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn garbage_and_bombs_are_refused() {
        assert!(matches!(
            decode_body::<SyncRequest>(b"not zstd"),
            Err(CodecError::Compression)
        ));
        let bomb = zstd::bulk::compress(&vec![b' '; MAX_DECOMPRESSED_BODY_BYTES + 10], 3).unwrap();
        assert!(matches!(
            decode_body::<SyncRequest>(&bomb),
            Err(CodecError::Limit(Limit::Decompressed(
                MAX_DECOMPRESSED_BODY_BYTES
            )))
        ));
        let quoting = zstd::bulk::compress(br#"{"protocol": "Maria-Secret"}"#, 3).unwrap();
        match decode_body::<SyncRequest>(&quoting) {
            Err(CodecError::Json(message)) => assert!(!message.contains("Maria"), "{message}"),
            other => panic!("{other:?}"),
        }
        let not_json = zstd::bulk::compress(b"{\"protocol\":", 3).unwrap();
        assert!(matches!(
            decode_body::<SyncRequest>(&not_json),
            Err(CodecError::Json(_))
        ));
        let truncated = &encode_body(&SyncRequest {
            store: None,
            protocol: 1,
            ops: vec![],
            cursor: None,
            pull_limit: None,
            commands: vec![],
            handoff: None,
        })[..5];
        assert!(decode_body::<SyncRequest>(truncated).is_err());
    }

    #[test]
    fn a_reply_with_the_largest_form_definition_decodes() {
        // A definition-shaped value of ~2 MiB: sections, fields, choices, labels.
        let field = |i: usize| {
            serde_json::json!({"id": format!("f{i}"), "type": "select_one",
                "label": {"en": "A question asked of the person", "fr": "Une question posée"},
                "choices": [{"value": "a", "label": {"en": "yes"}}, {"value": "b", "label": {"en": "no"}}]})
        };
        let definition = serde_json::json!({"sections": [{"fields": (0..10_000).map(field).collect::<Vec<_>>()}]});
        assert!(serde_json::to_vec(&definition).unwrap().len() > 2 * 1024 * 1024 - 200 * 1024);
        let device = DeviceId::from_bytes([1; 16]);
        let reply = SyncResponse {
            device_policy: None,
            acked_through: 0,
            rejections: vec![],
            ops: vec![Operation {
                op_id: OpId { device, seq: 1 },
                kind: crate::merge::op::RecordKind::Form,
                record_id: RecordId::server_authored([3; 16]),
                hlc: crate::hlc::Hlc {
                    wall_ms: 1,
                    counter: 0,
                    device,
                },
                fields: [(
                    "definition".to_owned(),
                    crate::merge::op::FieldChange::fresh(definition),
                )]
                .into(),
            }],
            next_cursor: Cursor("e.1".into()),
            more: false,
            reset: false,
            server_time_ms: 1,
            command_results: vec![],
            next_credential: None,
            handoff: None,
        };
        let decoded: SyncResponse = decode_reply(&encode_body(&reply)).unwrap();
        assert_eq!(decoded, reply);
    }
}
