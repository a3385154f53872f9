//! Attachments: photos and scans of documents and consent signatures that hang on a case.
//!
//! This module is pure: the limits, the content-type check by magic bytes, the digest type and
//! the wire messages of the upload protocol ([`wire`]). The store keeps attachments sealed in
//! fixed-size chunks (`store/attachments.rs`); the sync client uploads them in resumable chunks
//! and downloads them (`sync/attachments.rs`). `docs/protocol.md` ("Attachments") describes the
//! protocol and `docs/security.md` what is sealed where.
//!
//! What it guarantees: an attachment is at most [`MAX_ATTACHMENT_BYTES`]; its declared type is
//! one of [`ContentType`] and matches what its first bytes say it is; it names the case field
//! it hangs on ([`check_field`]), which decides who else may see it (see [`wire`]). Errors name
//! the rule broken, never a byte of the content or the label.
//!
//! Not done here: image processing (no resizing, no metadata stripping: a caller that wants
//! EXIF location removed does it before adding), and deletion (attachments are append-only).

pub mod record;
pub mod wire;

use sha2::{Digest as _, Sha256};
use std::fmt;

/// Largest attachment, in bytes: 10 MiB. A phone photo saved as JPEG at the resolution a
/// document needs is 1–4 MB and a multi-page PDF scan a few MB; 10 MiB leaves room for those
/// while keeping one attachment's upload over 2G (400 kbit/s) under four minutes.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// Chunk size the device stores and uploads new attachments in: 64 KiB. Each chunk is one
/// sealed row on the device and one resumable `PUT` on the wire. Measured over emulated 2G
/// (400 kbit/s, 800 ms round trip; `tests/tests/attachments.rs`, figures in
/// `docs/protocol.md`): a 2 MB photo with three dropped connections took 93 s and sent 117 KB
/// twice at 64 KiB, against 115 s / 51 KB at 32 KiB (a round trip per chunk costs 25 s more
/// on every clean upload) and 85 s / 715 KB at 256 KiB (each cut wastes six times the data).
pub const CHUNK_BYTES: u32 = 64 * 1024;

/// Smallest and largest chunk size the protocol accepts. Below 16 KiB the per-request round
/// trip dominates any link; above 1 MiB a dropped 2G connection wastes 20 s of sending.
pub const MIN_CHUNK_BYTES: u32 = 16 * 1024;
pub const MAX_CHUNK_BYTES: u32 = 1024 * 1024;

/// Longest label, in characters ("passport, page 2", "consent signature").
pub const MAX_LABEL_CHARS: usize = 200;

/// Case fields an attachment may hang on. The field decides who else sees the attachment:
/// a receiving agency sees it only if its referral shares that field (and consent names it).
pub const ATTACHMENT_FIELDS: [&str; 3] = ["photo", "document_numbers", "consent.data_sharing"];

/// The field an attachment hangs on when none is named.
pub const DEFAULT_FIELD: &str = "photo";

/// The content types accepted, each recognized by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    Jpeg,
    Png,
    Pdf,
    Webp,
}

impl ContentType {
    pub const ALL: [ContentType; 4] = [
        ContentType::Jpeg,
        ContentType::Png,
        ContentType::Pdf,
        ContentType::Webp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Pdf => "application/pdf",
            ContentType::Webp => "image/webp",
        }
    }

    /// Parses a MIME type (case-insensitive, parameters ignored).
    pub fn parse(text: &str) -> Option<ContentType> {
        let essence = text.split(';').next().unwrap_or("").trim();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }

    /// The type the first bytes of a file say it is, if one of ours.
    pub fn sniff(head: &[u8]) -> Option<ContentType> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ContentType::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ContentType::Png)
        } else if head.starts_with(b"%PDF-") {
            Some(ContentType::Pdf)
        } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            Some(ContentType::Webp)
        } else {
            None
        }
    }

    /// A guess from a file name's extension, for the command line.
    pub fn from_extension(name: &str) -> Option<ContentType> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "jpg" | "jpeg" => Some(ContentType::Jpeg),
            "png" => Some(ContentType::Png),
            "pdf" => Some(ContentType::Pdf),
            "webp" => Some(ContentType::Webp),
            _ => None,
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bytes [`ContentType::sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 12;

/// Why an attachment was refused. Never carries content, a label or a file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("the attachment is over the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the attachment is empty")]
    Empty,
    #[error("content type {declared:?} is not accepted; use image/jpeg, image/png, image/webp or application/pdf")]
    UnsupportedType { declared: String },
    #[error("the content is not {declared} (its first bytes say {sniffed})")]
    TypeMismatch {
        declared: ContentType,
        sniffed: String,
    },
    #[error(
        "an attachment may hang on photo, document_numbers or consent.data_sharing, not {field:?}"
    )]
    Field { field: String },
    #[error("the label is longer than {MAX_LABEL_CHARS} characters or holds control characters")]
    Label,
    #[error("chunk size must be between {MIN_CHUNK_BYTES} and {MAX_CHUNK_BYTES} bytes")]
    ChunkSize,
    #[error("the attachment's content does not match its SHA-256: it is incomplete or altered")]
    Checksum,
}

/// Checks a declared content type against the first bytes of the content.
pub fn check_type(declared: &str, head: &[u8]) -> Result<ContentType, AttachmentError> {
    let Some(declared_type) = ContentType::parse(declared) else {
        return Err(AttachmentError::UnsupportedType {
            declared: shown_type(declared),
        });
    };
    match ContentType::sniff(head) {
        Some(sniffed) if sniffed == declared_type => Ok(declared_type),
        Some(other) => Err(AttachmentError::TypeMismatch {
            declared: declared_type,
            sniffed: other.as_str().to_owned(),
        }),
        None => Err(AttachmentError::TypeMismatch {
            declared: declared_type,
            sniffed: "no accepted type".to_owned(),
        }),
    }
}

/// `declared` if it looks like a MIME type (short, `a-z0-9+-./;= `), else a mask: a value
/// typed into the wrong place must not be repeated in an error.
pub fn shown_type(declared: &str) -> String {
    let looks_like_type = declared.len() <= 64
        && declared.contains('/')
        && declared.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'/' | b';' | b'=' | b' ')
        });
    if looks_like_type {
        declared.to_ascii_lowercase()
    } else {
        "<not a content type>".to_owned()
    }
}

/// Checks the case field an attachment hangs on.
pub fn check_field(field: &str) -> Result<(), AttachmentError> {
    if ATTACHMENT_FIELDS.contains(&field) {
        Ok(())
    } else {
        Err(AttachmentError::Field {
            field: crate::model::validate::shown_key(field),
        })
    }
}

/// Checks a label: bounded, no control characters.
pub fn check_label(label: &str) -> Result<(), AttachmentError> {
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        Err(AttachmentError::Label)
    } else {
        Ok(())
    }
}

/// Checks a chunk size against the protocol's bounds.
pub fn check_chunk_size(chunk_size: u32) -> Result<(), AttachmentError> {
    if (MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_size) {
        Ok(())
    } else {
        Err(AttachmentError::ChunkSize)
    }
}

/// How many chunks an attachment of `size` bytes has.
pub fn chunk_count(size: u64, chunk_size: u32) -> u32 {
    size.div_ceil(u64::from(chunk_size.max(1))) as u32
}

/// The length of chunk `index` of an attachment of `size` bytes.
pub fn chunk_len(size: u64, chunk_size: u32, index: u32) -> u64 {
    let start = u64::from(index) * u64::from(chunk_size);
    size.saturating_sub(start).min(u64::from(chunk_size))
}

/// A SHA-256 digest, written as 64 lowercase hex characters on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    pub fn of(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn parse_hex(text: &str) -> Option<Sha256Digest> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Sha256Digest(out))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Sha256Digest::parse_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_recognized_by_their_magic_bytes() {
        assert_eq!(
            ContentType::sniff(b"\xFF\xD8\xFF\xE0rest"),
            Some(ContentType::Jpeg)
        );
        assert_eq!(
            ContentType::sniff(b"\x89PNG\r\n\x1a\nxx"),
            Some(ContentType::Png)
        );
        assert_eq!(ContentType::sniff(b"%PDF-1.7"), Some(ContentType::Pdf));
        assert_eq!(
            ContentType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ContentType::Webp)
        );
        assert_eq!(ContentType::sniff(b"GIF89a"), None);
        assert_eq!(ContentType::sniff(b""), None);
        assert_eq!(
            check_type("image/jpeg", b"\xFF\xD8\xFF"),
            Ok(ContentType::Jpeg)
        );
        assert_eq!(
            check_type("IMAGE/PNG; q=1", b"\x89PNG\r\n\x1a\n"),
            Ok(ContentType::Png)
        );
        assert!(matches!(
            check_type("image/png", b"\xFF\xD8\xFF"),
            Err(AttachmentError::TypeMismatch { .. })
        ));
        assert!(matches!(
            check_type("text/html", b"<html>"),
            Err(AttachmentError::UnsupportedType { .. })
        ));
        let masked = check_type("Amina Nakato", b"x").unwrap_err().to_string();
        assert!(!masked.contains("Amina"), "{masked}");
    }

    #[test]
    fn chunks_cover_the_size_exactly() {
        assert_eq!(chunk_count(0, 10), 0);
        assert_eq!(chunk_count(10, 10), 1);
        assert_eq!(chunk_count(11, 10), 2);
        assert_eq!(chunk_len(25, 10, 2), 5);
        assert_eq!(chunk_len(25, 10, 3), 0);
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Digest::parse_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256Digest::parse_hex("zz"), None);
        assert_eq!(Sha256Digest::parse_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn fields_and_labels_are_bounded() {
        assert!(check_field("photo").is_ok());
        assert!(check_field("given_name").is_err());
        assert!(check_label("passport, page 2").is_ok());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
    }
}
