//! At-rest sealing of what the server must not keep in the clear (operation payloads, each
//! record's merged state, attachments, and the report facts, match profiles and duplicate
//! decisions derived from cases).
//!
//! XChaCha20-Poly1305 with a random 24-byte nonce per seal (random nonces are safe at this size:
//! no counter to persist, no collision risk worth counting) and associated data that binds each
//! sealed value to where it lives ([`op_payload_ad`]), so a payload copied onto another row
//! fails to open instead of being served as that row's data.
//!
//! The key is 32 random bytes: `<data-dir>/server.key` by default, made owner-only on first
//! start, or from a key file, the environment or a command elsewhere ([`crate::server_key`]). The database holds a sealed
//! check value, so a server started with the wrong key refuses to start instead of failing on
//! every pull. This module does not manage key rotation (a later issue: a key id prefix in the
//! sealed format is reserved by [`FORMAT_V1`]).

use crate::fsutil;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use fieldcase_core::{DeviceId, RecordId, RecordKind};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::path::Path;
use zeroize::Zeroizing;

/// Length of a server key in bytes.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// First byte of every sealed value: the format (and, later, which key sealed it).
pub const FORMAT_V1: u8 = 1;

/// What can go wrong loading a key or opening a sealed value. Never carries plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("server key file {path} is missing: restore it, or unset FIELDCASE_SERVER_KEY_FILE")]
    KeyMissing { path: String },
    #[error("server key file {path} must hold exactly {KEY_BYTES} bytes, it holds {len}")]
    KeyLength { path: String, len: usize },
    #[error("server key file {path}: {source}")]
    KeyIo {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the server key from {origin} must be exactly {KEY_BYTES} bytes, it is {len} \
         (make one with: head -c {KEY_BYTES} /dev/urandom | base64)"
    )]
    KeySourceLength { origin: &'static str, len: usize },
    #[error("the server key from {origin} is not base64")]
    KeyEncoding { origin: &'static str },
    #[error("the server key command failed: {reason}")]
    KeyCommand { reason: String },
    #[error("a sealed value failed to open (wrong key, or the value was moved or altered)")]
    Open,
}

/// Seals and opens values under the server key, and makes keyed match tokens under a key
/// derived from it ([`Sealer::match_token`]).
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// HMAC-SHA256(server key, [`MATCH_KEY_LABEL`]): a separate key for duplicate-matching
    /// tokens, so a token never equals anything sealed or hashed under the server key itself.
    match_key: Zeroizing<[u8; KEY_BYTES]>,
    /// The server key itself, kept only to derive further purpose keys from
    /// ([`Sealer::derive_key`]).
    key: Zeroizing<[u8; KEY_BYTES]>,
}

/// Label the match-token key is derived under. Stable: changing it orphans every stored token.
const MATCH_KEY_LABEL: &[u8] = b"fieldcase/match-token-key/v1";

/// Length of a match token: 128 bits, negligible collisions at any caseload.
pub const MATCH_TOKEN_BYTES: usize = 16;

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; KEY_BYTES]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(MATCH_KEY_LABEL);
        let mut match_key = Zeroizing::new([0u8; KEY_BYTES]);
        match_key.copy_from_slice(&mac.finalize().into_bytes());
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
            match_key,
            key: Zeroizing::new(*key),
        }
    }

    /// A key for one purpose, HMAC-SHA256(server key, `label`): never equal to the server key
    /// or to another purpose's key. Used for the record keys of published figures
    /// ([`crate::reports::cellkey::CellKeys`]).
    pub fn derive_key(&self, label: &[u8]) -> Zeroizing<[u8; KEY_BYTES]> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()).expect("HMAC takes any key");
        mac.update(label);
        let mut out = Zeroizing::new([0u8; KEY_BYTES]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// A keyed token of one normalized identifying value for duplicate matching:
    /// HMAC-SHA256(match key, domain || 0 || value), truncated. Without the server key a token
    /// cannot be checked against guessed names; `domain` keeps kinds of value apart.
    pub fn match_token(&self, domain: &str, value: &str) -> [u8; MATCH_TOKEN_BYTES] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.match_key.as_ref())
            .expect("HMAC takes any key");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let mut token = [0u8; MATCH_TOKEN_BYTES];
        token.copy_from_slice(&mac.finalize().into_bytes()[..MATCH_TOKEN_BYTES]);
        token
    }

    /// Loads the key at `path`; when `create_if_missing`, makes a new random key there first
    /// (owner-only). Returns whether a key was created.
    pub fn load_or_create(path: &Path, create_if_missing: bool) -> Result<(Self, bool), SealError> {
        let shown = path.display().to_string();
        let io_err = |source| SealError::KeyIo {
            path: shown.clone(),
            source,
        };
        let mut created = false;
        if !path.exists() {
            if !create_if_missing {
                return Err(SealError::KeyMissing { path: shown });
            }
            let mut key = Zeroizing::new([0u8; KEY_BYTES]);
            rand::rngs::OsRng.fill_bytes(key.as_mut());
            fsutil::write_secret_file(path, key.as_ref()).map_err(io_err)?;
            created = true;
        }
        if fsutil::readable_by_others(path) {
            tracing::warn!(path = %shown, "server key file is readable by other users; chmod 600 it");
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(io_err)?);
        let key: &[u8; KEY_BYTES] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SealError::KeyLength {
                    path: shown.clone(),
                    len: bytes.len(),
                })?;
        Ok((Sealer::from_key(key), created))
    }

    /// `FORMAT_V1 || nonce || ciphertext+tag`.
    pub fn seal(&self, associated_data: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, associated_data: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_BYTES || sealed[0] != FORMAT_V1 {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SealError::Open)
    }
}

/// Associated data of a secret server setting: the table and the setting's key.
pub fn secret_setting_ad(key: &str) -> Vec<u8> {
    let mut ad = b"server_meta/secret\0".to_vec();
    ad.extend_from_slice(key.as_bytes());
    ad
}

/// Associated data of an operation's sealed payload: the table, the operation's id (unique in
/// the log), its record and kind. Moving a payload to another row changes at least one of them.
pub fn op_payload_ad(device: DeviceId, seq: u64, record: RecordId, kind: RecordKind) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(b"fieldcase/op_log/v1\0");
    ad.extend_from_slice(device.as_bytes());
    ad.extend_from_slice(&seq.to_be_bytes());
    ad.extend_from_slice(record.as_bytes());
    ad.extend_from_slice(kind.as_str().as_bytes());
    ad
}

/// Associated data of a record's sealed merged state (`records.state`): bound to the record,
/// so one record's state copied onto another fails to open.
pub fn record_state_ad(record: RecordId) -> Vec<u8> {
    let mut ad = Vec::with_capacity(48);
    ad.extend_from_slice(b"fieldcase/records/state/v1\0");
    ad.extend_from_slice(record.as_bytes());
    ad
}

/// Associated data of an attachment's sealed description (`attachments.meta`).
pub fn attachment_meta_ad(attachment: RecordId) -> Vec<u8> {
    let mut ad = Vec::with_capacity(48);
    ad.extend_from_slice(b"fieldcase/attachments/meta/v1\0");
    ad.extend_from_slice(attachment.as_bytes());
    ad
}

/// Associated data of one sealed attachment chunk: bound to its attachment, its index and
/// the attachment's chunk count, so a chunk moved to another attachment or position fails
/// to open.
pub fn attachment_chunk_ad(attachment: RecordId, index: u32, count: u32) -> Vec<u8> {
    let mut ad = Vec::with_capacity(56);
    ad.extend_from_slice(b"fieldcase/attachment_chunks/v1\0");
    ad.extend_from_slice(attachment.as_bytes());
    ad.extend_from_slice(&index.to_be_bytes());
    ad.extend_from_slice(&count.to_be_bytes());
    ad
}

/// Associated data of a sealed derived row: the table, the encoding version and the record, so
/// a row copied onto another record or into another table fails to open.
fn derived_row_ad(table_and_version: &[u8], row: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(table_and_version.len() + 1 + row.len());
    ad.extend_from_slice(table_and_version);
    ad.push(0);
    ad.extend_from_slice(row);
    ad
}

/// Associated data of a case's sealed report facts (`report_facts.facts`).
pub fn report_facts_ad(record: RecordId) -> Vec<u8> {
    derived_row_ad(b"fieldcase/report_facts/v1", record.as_bytes())
}

/// Associated data of a service's sealed report facts (`service_facts.facts`).
pub fn service_facts_ad(record: RecordId) -> Vec<u8> {
    derived_row_ad(b"fieldcase/service_facts/v1", record.as_bytes())
}

/// Associated data of a case's sealed match profile (`match_profiles.profile`).
pub fn match_profile_ad(record: RecordId) -> Vec<u8> {
    derived_row_ad(b"fieldcase/match_profiles/v3", record.as_bytes())
}

/// Associated data of a sealed duplicate decision (`duplicate_decisions.decision`), bound to
/// its row's key (the keyed token of the pair), so a decision moved to another pair fails
/// to open.
pub fn duplicate_decision_ad(pair_key: &[u8]) -> Vec<u8> {
    derived_row_ad(b"fieldcase/duplicate_decisions/v1", pair_key)
}

/// Associated data of a case's sealed review reasons (`case_reviews.reasons`).
pub fn case_review_ad(record: RecordId) -> Vec<u8> {
    derived_row_ad(b"fieldcase/case_reviews/v1", record.as_bytes())
}

/// Associated data of the key check value kept in the database.
pub const KEY_CHECK_AD: &[u8] = b"fieldcase/server_meta/key_check/v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_associated_data() {
        let sealer = Sealer::from_key(&[7; KEY_BYTES]);
        let sealed = sealer.seal(b"row 1", b"secret");
        assert_eq!(sealer.open(b"row 1", &sealed).unwrap(), b"secret");
        assert!(sealer.open(b"row 2", &sealed).is_err());
        assert!(Sealer::from_key(&[8; KEY_BYTES])
            .open(b"row 1", &sealed)
            .is_err());
        assert!(sealer.open(b"row 1", &sealed[..10]).is_err());
    }

    #[test]
    fn a_key_file_is_created_owner_only_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.key");
        assert!(matches!(
            Sealer::load_or_create(&path, false),
            Err(SealError::KeyMissing { .. })
        ));
        let (first, created) = Sealer::load_or_create(&path, true).unwrap();
        assert!(created);
        assert!(!fsutil::readable_by_others(&path));
        let (second, created) = Sealer::load_or_create(&path, true).unwrap();
        assert!(!created);
        let sealed = first.seal(b"ad", b"x");
        assert_eq!(second.open(b"ad", &sealed).unwrap(), b"x");
    }
}
