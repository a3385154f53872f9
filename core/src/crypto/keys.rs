//! The data key (DEK) and the subkeys the store uses, derived from it.
//!
//! One random 256-bit data key per store; everything the store keeps is sealed or indexed
//! under subkeys derived from it with HKDF-SHA256, one distinct label per purpose, so a key
//! used for blind indexes can never be confused with the sealing key. Changing the passphrase
//! re-wraps the data key ([`KeyEnvelope`](super::KeyEnvelope)) and changes none of these.
//!
//! Keys are zeroized on drop and their `Debug` prints no bytes. This module cannot stop a caller
//! from copying what [`DataKey::expose_bytes`] returns; the name says the caller is taking on
//! that care.

use super::{IndexKey, SealKey, KEY_LEN};
use hkdf::Hkdf;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// HKDF `info` for the subkey that seals values. Versioned: a new scheme gets new labels.
const SEAL_KEY_INFO: &[u8] = b"fieldcase/v1/store/seal";
/// HKDF `info` for the subkey that makes blind-index tokens.
const INDEX_KEY_INFO: &[u8] = b"fieldcase/v1/store/blind-index";
/// HKDF `info` for the subkey that authenticates the unlock guard (failed-unlock count,
/// agency policy, lease, rollback counter) kept in the clear beside the key envelope.
const GUARD_KEY_INFO: &[u8] = b"fieldcase/v1/store/unlock-guard";
/// HKDF-SHA256 can expand up to 8160 bytes; 32 always succeeds.
const OKM_LEN_OK: &str = "32 bytes is a valid HKDF-SHA256 output length";

/// The random 256-bit key that everything in one store is sealed under, directly or through
/// [`StoreKeys`]. Zeroized on drop.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> DataKey {
        let mut key = DataKey(Zeroizing::new([0u8; KEY_LEN]));
        // Filled in place so no unzeroized copy of the key is left on the stack.
        OsRng.fill_bytes(key.0.as_mut());
        key
    }

    /// Wraps existing key bytes. The argument is moved in and zeroized with the key; any other
    /// copy the caller holds is the caller's to zeroize.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// The raw key, for wrapping it. Do not log, store or copy it.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Mutable access for [`KeyEnvelope`](super::KeyEnvelope), which decrypts straight into
    /// the key's own buffer.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }

    /// The store's subkeys: HKDF-SHA256 over the data key with a distinct label per subkey.
    pub fn derive_store_keys(&self) -> StoreKeys {
        let hkdf = Hkdf::<Sha256>::new(None, self.0.as_ref());
        // One zeroizing buffer reused for both subkeys; the key types copy it into their own.
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        hkdf.expand(SEAL_KEY_INFO, okm.as_mut()).expect(OKM_LEN_OK);
        let seal = SealKey::from_key_ref(&okm);
        hkdf.expand(INDEX_KEY_INFO, okm.as_mut()).expect(OKM_LEN_OK);
        let index = IndexKey::from_key_ref(&okm);
        hkdf.expand(GUARD_KEY_INFO, okm.as_mut()).expect(OKM_LEN_OK);
        let guard = GuardKey(Zeroizing::new(*okm));
        StoreKeys { seal, index, guard }
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The keys an unlocked store works with. Dropping it (locking the store) zeroizes them.
#[derive(Debug)]
pub struct StoreKeys {
    /// Seals and opens values.
    pub seal: SealKey,
    /// Makes blind-index tokens.
    pub index: IndexKey,
    /// Authenticates the unlock guard ([`crate::store`]'s failed-unlock record).
    pub guard: GuardKey,
}

/// The key that MACs the unlock guard: only someone who knows the passphrase can make a guard
/// record the store accepts. Zeroized on drop; `Debug` prints no bytes.
pub struct GuardKey(Zeroizing<[u8; KEY_LEN]>);

impl GuardKey {
    /// The raw key, for HMAC. Do not log, store or copy it.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for GuardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Aad, IndexKind};

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            DataKey::generate().expose_bytes(),
            DataKey::generate().expose_bytes()
        );
        assert_ne!(DataKey::generate().expose_bytes(), &[0u8; 32]);
    }

    #[test]
    fn from_bytes_round_trips() {
        assert_eq!(DataKey::from_bytes([7; 32]).expose_bytes(), &[7; 32]);
    }

    #[test]
    fn subkeys_are_deterministic_distinct_and_specific_to_the_data_key() {
        let aad = Aad {
            table: "t",
            record: b"r",
            part: "p",
        };
        let a = DataKey::from_bytes([1; 32]).derive_store_keys();
        let a_again = DataKey::from_bytes([1; 32]).derive_store_keys();
        let b = DataKey::from_bytes([2; 32]).derive_store_keys();

        let sealed = a.seal.seal(aad, b"x");
        assert_eq!(a_again.seal.open(aad, &sealed).unwrap(), b"x");
        assert!(b.seal.open(aad, &sealed).is_err());

        let token = a.index.token(IndexKind::Name, "ali");
        assert_eq!(token, a_again.index.token(IndexKind::Name, "ali"));
        assert_ne!(token, b.index.token(IndexKind::Name, "ali"));

        // The two subkeys are not the same key: a seal key built from the index key's bytes
        // would open the value if they were. Checked through the labels directly.
        assert_ne!(SEAL_KEY_INFO, INDEX_KEY_INFO);
        let hkdf = Hkdf::<Sha256>::new(None, &[1; 32]);
        let (mut s, mut i) = ([0u8; 32], [0u8; 32]);
        hkdf.expand(SEAL_KEY_INFO, &mut s).unwrap();
        hkdf.expand(INDEX_KEY_INFO, &mut i).unwrap();
        assert_ne!(s, i);
        assert_ne!(s, [1; 32]);
        assert_eq!(SealKey::from_bytes(s).open(aad, &sealed).unwrap(), b"x");
        assert!(SealKey::from_bytes(i).open(aad, &sealed).is_err());
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let dek = DataKey::from_bytes([0xAB; 32]);
        assert_eq!(format!("{dek:?}"), "DataKey(<redacted>)");
        let keys = dek.derive_store_keys();
        let shown = format!("{keys:?} {keys:#?}");
        assert!(shown.contains("SealKey(<redacted>)"), "{shown}");
        assert!(shown.contains("IndexKey(<redacted>)"), "{shown}");
        for needle in ["171", "ab", "AB", "[", "0x"] {
            assert!(!shown.contains(needle), "{needle} in {shown}");
        }
    }
}
