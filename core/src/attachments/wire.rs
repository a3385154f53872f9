//! The attachment upload and download protocol: what crosses the wire (plain JSON, and raw
//! chunk bytes). One definition for the server and the device, as [`crate::protocol`] is for
//! sync. Documented for humans in `docs/protocol.md` ("Attachments").
//!
//! - `PUT /v1/attachments/{id}` with a [`Declaration`]: the device says an attachment exists
//!   (its case, the field it hangs on, type, size, chunk size, SHA-256). Idempotent: the same
//!   declaration again is answered like the first; a different one for the same id is `409`.
//!   Only a device of the agency that owns the case may declare.
//! - `GET /v1/attachments/{id}/upload` → [`UploadState`]: the chunks the server is missing.
//! - `PUT /v1/attachments/{id}/chunks/{index}` with the chunk's bytes and its SHA-256 in
//!   [`CHUNK_SHA256_HEADER`] → [`ChunkReceipt`]. A chunk of the wrong length or digest is
//!   refused; a chunk the server has is answered without being stored again. When the last
//!   missing chunk arrives the server checks the whole file against the declared SHA-256.
//! - `GET /v1/attachments/{id}` → [`AttachmentInfo`], and `GET /v1/attachments/{id}/chunks/{index}`
//!   → the chunk's bytes, once complete, for any device allowed to see it;
//!   `GET /v1/cases/{case_id}/attachments` → [`AttachmentList`].
//!
//! Who may see an attachment: devices of the agency that owns its case now and of the agency
//! that declared it; a receiving agency of a referral only while the referral's access is open,
//! the referral shares the field the attachment hangs on, and the case's consent names that
//! agency (attachments are images of a person or their papers: always identifying). Anything
//! else — and an id that does not exist — gets the same `404`.

use super::Sha256Digest;
use crate::ids::RecordId;
use serde::{Deserialize, Serialize};

/// Header carrying a chunk's SHA-256 (64 hex characters) on upload and on download.
pub const CHUNK_SHA256_HEADER: &str = "x-fieldcase-chunk-sha256";

/// Content type of a chunk body.
pub const CHUNK_CONTENT_TYPE: &str = "application/octet-stream";

/// Body of `PUT /v1/attachments/{id}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub case_id: RecordId,
    /// The case field it hangs on (see [`super::ATTACHMENT_FIELDS`]).
    pub field: String,
    pub content_type: String,
    pub size: u64,
    pub chunk_size: u32,
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl std::fmt::Debug for Declaration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Declaration")
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// Reply to a declaration and to `GET /v1/attachments/{id}/upload`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub chunk_count: u32,
    /// Indexes of the chunks the server does not have yet, ascending.
    pub missing: Vec<u32>,
    /// All chunks arrived and the whole file matched its SHA-256.
    pub complete: bool,
}

/// Reply to `PUT /v1/attachments/{id}/chunks/{index}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkReceipt {
    /// Chunks still missing after this one.
    pub missing: u32,
    pub complete: bool,
}

/// Reply to `GET /v1/attachments/{id}`; one entry of an [`AttachmentList`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    pub id: RecordId,
    pub case_id: RecordId,
    pub field: String,
    pub content_type: String,
    pub size: u64,
    pub chunk_size: u32,
    pub chunk_count: u32,
    pub sha256: Sha256Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub complete: bool,
    pub created_at_ms: u64,
}

impl std::fmt::Debug for AttachmentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentInfo")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

/// Reply to `GET /v1/cases/{case_id}/attachments`: the attachments of the case this device
/// may see, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentList {
    pub attachments: Vec<AttachmentInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_has_a_stable_wire_form_and_hides_its_label() {
        let declaration = Declaration {
            case_id: RecordId::from_bytes([1; 16]),
            field: "photo".into(),
            content_type: "image/jpeg".into(),
            size: 3,
            chunk_size: 65536,
            sha256: Sha256Digest::of(b"abc"),
            label: Some("Amina's passport".into()),
        };
        let json = serde_json::to_value(&declaration).unwrap();
        assert_eq!(
            json["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(json["chunk_size"], 65536);
        let back: Declaration = serde_json::from_value(json).unwrap();
        assert_eq!(back, declaration);
        assert!(!format!("{declaration:?}").contains("Amina"));
    }
}
