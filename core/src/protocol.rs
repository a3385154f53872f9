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

use crate::merge::op::{OpId, Operation};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// Version of this protocol; a request from a different major version is refused with
/// [`ErrorCode::UnsupportedProtocol`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Most operations a device pushes in one request. Bounded so one request's work on the
/// server (one transaction) stays short and a dropped 2G connection loses little.
pub const MAX_PUSH_OPS: usize = 500;

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
#[non_exhaustive]
pub enum RejectReason {
    /// The record belongs to an agency this device may not write to.
    Forbidden,
    /// The operation is malformed (names the field key or the rule, never the value).
    Invalid { detail: String },
    /// The record kind cannot be changed this way (an edit to an append-only record).
    NotEditable,
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
#[non_exhaustive]
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
#[non_exhaustive]
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
        };
        let decoded: SyncRequest = decode_body(&encode_body(&request)).unwrap();
        assert_eq!(decoded, request);
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
        })[..5];
        assert!(decode_body::<SyncRequest>(truncated).is_err());
    }
}
