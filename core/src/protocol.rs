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
use std::io::Read;

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

/// Default and largest number of operations the server returns in one pull page. Sized so
/// a page of ~1.2 KB cases compresses to a few hundred KB: big enough for few round trips on
/// 2G, small enough that a dropped connection wastes little.
pub const DEFAULT_PULL_LIMIT: u32 = 1000;
pub const MAX_PULL_LIMIT: u32 = 5000;

/// Largest compressed body either end accepts, checked before anything is decompressed.
pub const MAX_COMPRESSED_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Largest decompressed body either end accepts; decompression stops past it, so a zstd bomb
/// costs nothing.
pub const MAX_DECOMPRESSED_BODY_BYTES: usize = 64 * 1024 * 1024;

/// zstd level for sync bodies: level 3 is zstd's default, fast enough for a phone's CPU and
/// within a few percent of higher levels on JSON.
pub const ZSTD_LEVEL: i32 = 3;

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
    pub ops: Vec<Operation>,
    /// Where the last applied pull page ended; `None` for a first sync (or after a reset).
    pub cursor: Option<Cursor>,
    /// Page size the device asks for; the server caps it at [`MAX_PULL_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_limit: Option<u32>,
    /// Referral transitions this device asks for, in `command_id.s` order, at most
    /// [`MAX_PUSH_COMMANDS`]. The server applies them after the operations of this request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<ReferralCommand>,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: crate::ids::DeviceId,
    pub agency: crate::ids::AgencyCode,
    pub user_id: String,
    pub role: String,
    pub credential: String,
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

/// What can go wrong encoding or decoding a body.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("body of {0} bytes is over the {MAX_COMPRESSED_BODY_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("decompressed body is over the {MAX_DECOMPRESSED_BODY_BYTES}-byte limit")]
    DecompressedTooLarge,
    #[error("body is not valid zstd")]
    Compression,
    #[error("body is not a valid message: {0}")]
    Json(String),
}

/// Serializes and compresses a message.
pub fn encode_body<T: Serialize>(message: &T) -> Vec<u8> {
    let json = serde_json::to_vec(message).expect("protocol messages always serialize");
    zstd::bulk::compress(&json, ZSTD_LEVEL).expect("zstd compression of an in-memory buffer")
}

/// Decompresses (bounded) and parses a message. Checks the compressed size first.
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    if body.len() > MAX_COMPRESSED_BODY_BYTES {
        return Err(CodecError::TooLarge(body.len()));
    }
    let decoder = zstd::stream::read::Decoder::new(body).map_err(|_| CodecError::Compression)?;
    let mut json = Vec::new();
    let read = decoder
        .take(MAX_DECOMPRESSED_BODY_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|_| CodecError::Compression)?;
    if read > MAX_DECOMPRESSED_BODY_BYTES {
        return Err(CodecError::DecompressedTooLarge);
    }
    // serde_json's messages can quote the input ("invalid type: string \"Maria\""), so only
    // the kind of error and its position are kept.
    serde_json::from_slice(&json).map_err(|e| {
        CodecError::Json(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            ops: vec![],
            cursor: None,
            pull_limit: Some(10),
            commands: vec![],
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
            Err(CodecError::DecompressedTooLarge)
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
            protocol: 1,
            ops: vec![],
            cursor: None,
            pull_limit: None,
            commands: vec![],
        })[..5];
        assert!(decode_body::<SyncRequest>(truncated).is_err());
    }
}
