//! The attachment record: what the operation log says about an attachment, so every device
//! allowed to see it can list it offline, with its size, before it holds a byte of it.
//!
//! The server writes one such record (kind [`RecordKind::Attachment`]) when an upload
//! completes, from the declaration it checked, addressed only to agencies that may see the
//! attachment itself; devices never write one (the server refuses it, like a form). Its id is
//! derived from the attachment id into the server's namespace ([`record_id`]), so no device
//! can take it first, and the same attachment always has the same record.
//!
//! This module is pure: the keys, building the fields from a declaration, and reading them
//! back (a record that does not read is ignored by the device, never half-shown). It holds no
//! bytes of the attachment. The label may name the person: it is personal data, sealed like
//! any record field, and never in `Debug` output.

use super::wire::AttachmentInfo;
use super::MAX_ATTACHMENT_BYTES;
use super::{check_chunk_size, check_field, check_label, chunk_count, ContentType, Sha256Digest};
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::model::Fields;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The record's kind.
pub const KIND: RecordKind = RecordKind::Attachment;

/// The attachment's own id (the record id is derived from it).
pub const ATTACHMENT_ID: &str = "attachment_id";
/// The case it hangs on (the same key services and notes use, so stores index it alike).
pub const CASE_ID: &str = "case_id";
pub const FIELD: &str = "field";
pub const CONTENT_TYPE: &str = "content_type";
pub const SIZE: &str = "size";
pub const CHUNK_SIZE: &str = "chunk_size";
pub const SHA256: &str = "sha256";
pub const LABEL: &str = "label";

/// The record id of attachment `attachment`: in the server's namespace, derived so the server
/// writes it once whatever happens, and no device can squat it.
pub fn record_id(attachment: &RecordId) -> RecordId {
    let mut hasher = Sha256::new();
    hasher.update(b"fieldcase attachment\0");
    hasher.update(attachment.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    RecordId::server_authored(bytes)
}

/// What a device learns of an attachment from the log.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub attachment_id: RecordId,
    pub case_id: RecordId,
    pub field: String,
    pub content_type: ContentType,
    pub size: u64,
    pub chunk_size: u32,
    pub sha256: Sha256Digest,
    pub label: Option<String>,
}

impl std::fmt::Debug for AttachmentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRecord")
            .field("attachment_id", &self.attachment_id)
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl AttachmentRecord {
    /// The record's fields.
    pub fn to_fields(&self) -> Fields {
        let mut fields: Fields = [
            (
                ATTACHMENT_ID.to_owned(),
                Value::from(self.attachment_id.to_string()),
            ),
            (CASE_ID.to_owned(), Value::from(self.case_id.to_string())),
            (FIELD.to_owned(), Value::from(self.field.as_str())),
            (
                CONTENT_TYPE.to_owned(),
                Value::from(self.content_type.as_str()),
            ),
            (SIZE.to_owned(), Value::from(self.size)),
            (CHUNK_SIZE.to_owned(), Value::from(self.chunk_size)),
            (SHA256.to_owned(), Value::from(self.sha256.to_hex())),
        ]
        .into();
        if let Some(label) = &self.label {
            fields.insert(LABEL.to_owned(), Value::from(label.as_str()));
        }
        fields
    }

    /// Reads a record's fields back; `None` when any is missing or breaks the attachment
    /// rules (a record this build cannot trust is not shown).
    pub fn from_fields(fields: &Fields) -> Option<AttachmentRecord> {
        let text = |key: &str| fields.get(key).and_then(Value::as_str);
        let attachment_id: RecordId = text(ATTACHMENT_ID)?.parse().ok()?;
        let case_id: RecordId = text(CASE_ID)?.parse().ok()?;
        let field = text(FIELD)?.to_owned();
        check_field(&field).ok()?;
        let content_type = ContentType::parse(text(CONTENT_TYPE)?)?;
        let size = fields.get(SIZE)?.as_u64()?;
        let chunk_size = u32::try_from(fields.get(CHUNK_SIZE)?.as_u64()?).ok()?;
        check_chunk_size(chunk_size).ok()?;
        if size == 0 || size > MAX_ATTACHMENT_BYTES {
            return None;
        }
        let sha256 = Sha256Digest::parse_hex(text(SHA256)?)?;
        let label = match fields.get(LABEL) {
            None | Some(Value::Null) => None,
            Some(value) => {
                let label = value.as_str()?;
                check_label(label).ok()?;
                Some(label.to_owned())
            }
        };
        Some(AttachmentRecord {
            attachment_id,
            case_id,
            field,
            content_type,
            size,
            chunk_size,
            sha256,
            label,
        })
    }

    /// The record of a complete attachment the server describes (`None` when the
    /// description breaks the attachment rules).
    pub fn from_info(info: &AttachmentInfo) -> Option<AttachmentRecord> {
        let record = AttachmentRecord {
            attachment_id: info.id,
            case_id: info.case_id,
            field: info.field.clone(),
            content_type: ContentType::parse(&info.content_type)?,
            size: info.size,
            chunk_size: info.chunk_size,
            sha256: info.sha256,
            label: info.label.clone(),
        };
        Self::from_fields(&record.to_fields())
    }

    /// How many chunks the attachment has.
    pub fn chunk_count(&self) -> u32 {
        chunk_count(self.size, self.chunk_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AttachmentRecord {
        AttachmentRecord {
            attachment_id: RecordId::new(),
            case_id: RecordId::new(),
            field: "photo".into(),
            content_type: ContentType::Jpeg,
            size: 200_000,
            chunk_size: 65_536,
            sha256: Sha256Digest::of(b"photo"),
            label: Some("Amina, passport page 2".into()),
        }
    }

    #[test]
    fn a_record_round_trips_through_its_fields_and_hides_its_label() {
        let record = sample();
        let fields = record.to_fields();
        assert_eq!(AttachmentRecord::from_fields(&fields), Some(record.clone()));
        assert_eq!(record.chunk_count(), 4);
        assert!(!format!("{record:?}").contains("Amina"));
        let unlabelled = AttachmentRecord {
            label: None,
            ..record
        };
        assert_eq!(
            AttachmentRecord::from_fields(&unlabelled.to_fields()),
            Some(unlabelled)
        );
    }

    #[test]
    fn a_record_breaking_the_rules_does_not_read() {
        let good = sample().to_fields();
        let broken = |key: &str, value: Value| {
            let mut fields = good.clone();
            fields.insert(key.to_owned(), value);
            AttachmentRecord::from_fields(&fields)
        };
        assert!(broken(FIELD, "given_name".into()).is_none());
        assert!(broken(CONTENT_TYPE, "text/html".into()).is_none());
        assert!(broken(SIZE, (MAX_ATTACHMENT_BYTES + 1).into()).is_none());
        assert!(broken(SIZE, 0.into()).is_none());
        assert!(broken(CHUNK_SIZE, 10.into()).is_none());
        assert!(broken(SHA256, "zz".into()).is_none());
        assert!(broken(LABEL, "a\nb".into()).is_none());
        let mut missing = good.clone();
        missing.remove(CASE_ID);
        assert!(AttachmentRecord::from_fields(&missing).is_none());
    }

    #[test]
    fn record_ids_are_the_servers_and_stable() {
        let id = RecordId::new();
        assert_eq!(record_id(&id), record_id(&id));
        assert!(record_id(&id).is_server_authored());
        assert_ne!(record_id(&id), record_id(&RecordId::new()));
    }
}
