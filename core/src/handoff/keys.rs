//! The keys of a handoff: each device's Ed25519 signing key, and each agency's X25519 key pair.
//!
//! A device signs the bundles it makes with its own key, whose public half the server
//! registers at enrollment and distributes to every device, so a receiving phone can tell who
//! made a bundle without a network. A bundle is encrypted to the receiving agency's X25519
//! public key, which every device also holds; each device of an agency holds that agency's
//! secret key, sealed in its store, so any caseworker of the agency can open a bundle meant
//! for it.
//!
//! Secrets are zeroized on drop and `Debug` never prints their bytes. Public keys print as
//! hex (they are not secret, and an administrator comparing fingerprints needs to see them).

use rand::rngs::OsRng;
use std::fmt;
use zeroize::Zeroizing;

/// Length of every key here: 32 bytes.
pub const KEY_BYTES: usize = 32;

/// A device's Ed25519 signing key. Zeroized on drop.
pub struct DeviceSigningKey(ed25519_dalek::SigningKey);

impl DeviceSigningKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> DeviceSigningKey {
        let mut secret = Zeroizing::new([0u8; KEY_BYTES]);
        rand::RngCore::fill_bytes(&mut OsRng, secret.as_mut());
        DeviceSigningKey(ed25519_dalek::SigningKey::from_bytes(&secret))
    }

    /// The key from its 32 secret bytes (as sealed in the store).
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> DeviceSigningKey {
        DeviceSigningKey(ed25519_dalek::SigningKey::from_bytes(bytes))
    }

    /// The secret bytes, for sealing them in the store. Do not log or copy them.
    pub fn expose_bytes(&self) -> Zeroizing<[u8; KEY_BYTES]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half, which the server registers and distributes.
    pub fn public(&self) -> DevicePublicKey {
        DevicePublicKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for DeviceSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSigningKey(<redacted>)")
    }
}

/// A device's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevicePublicKey(pub [u8; KEY_BYTES]);

impl DevicePublicKey {
    /// Whether `signature` is this key's signature of `message`. Strict verification: no
    /// malleable or small-order encodings are accepted.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn parse_hex(text: &str) -> Option<DevicePublicKey> {
        parse_hex(text).map(DevicePublicKey)
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKey({})", self.to_hex())
    }
}

/// An agency's X25519 secret key: every device of the agency holds it, sealed in its store.
/// Zeroized on drop.
pub struct AgencySecretKey(x25519_dalek::StaticSecret);

impl AgencySecretKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> AgencySecretKey {
        AgencySecretKey(x25519_dalek::StaticSecret::random_from_rng(OsRng))
    }

    /// The key from its 32 secret bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> AgencySecretKey {
        AgencySecretKey(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The secret bytes, for sealing them. Do not log or copy them.
    pub fn expose_bytes(&self) -> Zeroizing<[u8; KEY_BYTES]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> AgencyPublicKey {
        AgencyPublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// The Diffie-Hellman secret shared with `their` public key; `None` when it is not
    /// contributory (a low-order point chosen to force a known result).
    pub(crate) fn agree(&self, their: &[u8; KEY_BYTES]) -> Option<Zeroizing<[u8; KEY_BYTES]>> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their));
        shared
            .was_contributory()
            .then(|| Zeroizing::new(shared.to_bytes()))
    }
}

impl fmt::Debug for AgencySecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgencySecretKey(<redacted>)")
    }
}

/// An agency's X25519 public key: what a bundle for the agency is encrypted to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgencyPublicKey(pub [u8; KEY_BYTES]);

impl AgencyPublicKey {
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn parse_hex(text: &str) -> Option<AgencyPublicKey> {
        parse_hex(text).map(AgencyPublicKey)
    }
}

impl fmt::Debug for AgencyPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgencyPublicKey({})", self.to_hex())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; KEY_BYTES]> {
    if text.len() != KEY_BYTES * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; KEY_BYTES];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_debug_shows_no_secret() {
        let signing = DeviceSigningKey::generate();
        let again = DeviceSigningKey::from_bytes(&signing.expose_bytes());
        assert_eq!(signing.public(), again.public());
        let signature = signing.sign(b"m");
        assert!(signing.public().verifies(b"m", &signature));
        assert!(!signing.public().verifies(b"n", &signature));
        assert!(!DeviceSigningKey::generate()
            .public()
            .verifies(b"m", &signature));

        let agency = AgencySecretKey::generate();
        let again = AgencySecretKey::from_bytes(*agency.expose_bytes());
        assert_eq!(agency.public(), again.public());
        let hex = agency.public().to_hex();
        assert_eq!(AgencyPublicKey::parse_hex(&hex), Some(agency.public()));
        assert_eq!(AgencyPublicKey::parse_hex("zz"), None);

        let shown = format!("{signing:?} {agency:?}");
        assert_eq!(
            shown,
            "DeviceSigningKey(<redacted>) AgencySecretKey(<redacted>)"
        );
    }

    #[test]
    fn a_low_order_point_is_refused() {
        let agency = AgencySecretKey::generate();
        assert!(agency.agree(&[0u8; 32]).is_none());
        let other = AgencySecretKey::generate();
        assert_eq!(
            *agency.agree(&other.public().0).unwrap(),
            *other.agree(&agency.public().0).unwrap()
        );
    }
}
