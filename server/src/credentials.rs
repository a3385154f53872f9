//! Secrets the server hands out: device credentials, admin tokens and enrollment codes.
//!
//! The server stores only SHA-256 hashes of them and finds a presented secret by the hash of
//! it. A fast hash is the right tool here, unlike for passwords: credentials and tokens are 32
//! random bytes (256 bits), so no dictionary or brute force over the hash can find one — the
//! slowness of Argon2 protects low-entropy secrets chosen by people and would only add latency
//! (and a denial-of-service lever) to every sync. Looking a secret up by its hash also makes
//! the comparison constant-time in the sense that matters: what a timing difference could leak
//! is the hash's prefix, which says nothing about any secret.
//!
//! Enrollment codes are shorter (12 characters, ~59 bits) because a person types them; they
//! are one-time, expire within days ([`crate::config::MAX_ENROLLMENT_CODE_HOURS`]), and are
//! hashed under their own domain-separation prefix.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Bytes of randomness in a device credential or admin token.
pub const SECRET_BYTES: usize = 32;

/// Characters of an enrollment code (without separators).
pub const ENROLLMENT_CODE_CHARS: usize = 12;

/// Enrollment code alphabet: digits and capitals without the ones people confuse
/// (0/O, 1/I/L). 31 symbols, so a 12-character code carries ~59 bits.
pub const ENROLLMENT_CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// The SHA-256 of a secret as stored.
pub type SecretHash = [u8; 32];

/// What a secret is for; each kind hashes under its own prefix, so a secret of one kind never
/// matches a stored hash of another even if copied between tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    DeviceCredential,
    AdminToken,
    EnrollmentCode,
    /// A user's API token (reports, duplicate review).
    ApiToken,
}

impl SecretKind {
    fn domain(self) -> &'static [u8] {
        match self {
            SecretKind::DeviceCredential => b"fieldcase device credential v1\0",
            SecretKind::AdminToken => b"fieldcase admin token v1\0",
            SecretKind::EnrollmentCode => b"fieldcase enrollment code v1\0",
            SecretKind::ApiToken => b"fieldcase api token v1\0",
        }
    }
}

/// A new random bearer secret (device credential or admin token): 32 bytes, base64url.
pub fn new_bearer_secret() -> String {
    let mut bytes = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// The stored hash of a secret.
pub fn hash_secret(kind: SecretKind, secret: &str) -> SecretHash {
    let mut hasher = Sha256::new();
    hasher.update(kind.domain());
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// A new enrollment code, grouped for reading aloud: `K7QM-4TXP-9WDR`.
pub fn new_enrollment_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut code = String::with_capacity(ENROLLMENT_CODE_CHARS + 2);
    for i in 0..ENROLLMENT_CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let c = ENROLLMENT_CODE_ALPHABET[rng.gen_range(0..ENROLLMENT_CODE_ALPHABET.len())];
        code.push(c as char);
    }
    code
}

/// The canonical form of a typed code (capitals, no separators or spaces), or `None` when it
/// cannot be a code at all.
pub fn normalize_enrollment_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == ENROLLMENT_CODE_CHARS
        && code.bytes().all(|b| ENROLLMENT_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_normalize_back() {
        let code = new_enrollment_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        let canonical = normalize_enrollment_code(&code).unwrap();
        assert_eq!(
            normalize_enrollment_code(&code.to_lowercase().replace('-', " ")).unwrap(),
            canonical
        );
        assert!(normalize_enrollment_code("K7QM-4TXP-9WD").is_none());
        assert!(normalize_enrollment_code("K7QM-4TXP-9WD0").is_none());
    }

    #[test]
    fn secrets_are_long_and_hash_per_kind() {
        let secret = new_bearer_secret();
        assert_eq!(secret.len(), 43);
        assert_ne!(
            hash_secret(SecretKind::DeviceCredential, &secret),
            hash_secret(SecretKind::AdminToken, &secret)
        );
    }
}
