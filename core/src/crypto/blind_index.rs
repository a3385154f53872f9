//! Blind-index tokens: keyed hashes of normalized identifying values (name tokens, phone keys,
//! document numbers), so the store can find "every case with this phone number" without
//! keeping the number in the clear.
//!
//! A token is HMAC-SHA256 under the store's index key over the value's kind and the
//! normalized value, truncated to 128 bits. Without the key, tokens reveal nothing and cannot
//! be checked against guesses; the same value of a different kind gives an unrelated token.
//!
//! Not done here: normalization (see [`crate::normalize`]; this module hashes exactly the
//! string it is given), and hiding equality: anyone with the database sees which records share
//! a token. That is the price of searching without the key, and why tokens use folded values
//! that many people share rather than exact ones.

use super::KEY_LEN;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// A blind-index token. 128 bits: collisions between distinct values are negligible for any
/// store, and half the size of a full HMAC in every index row.
pub type Token = [u8; 16];

/// Version of the token scheme, hashed in so a future scheme cannot produce the same tokens.
const TOKEN_SCHEME_VERSION: u8 = 1;

/// What kind of value a token stands for. Each kind has its own domain, so a document number
/// and a phone number with the same digits do not share a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// One token of a name, from [`crate::normalize::name_tokens`].
    Name,
    /// A phone key, from [`crate::normalize::phone`].
    Phone,
    /// A document number, from [`crate::normalize::document_number`].
    Document,
    /// One word of a name as spelled (case, diacritics and script folded, no phonetic
    /// folding), from [`crate::normalize::name_words`]: ranks exact spellings first.
    NameSpelling,
    /// The first few letters of one word of a name as spelled, for search as you type.
    NamePrefix,
    /// Two words of one full name as spelled, in either order
    /// ([`crate::store`]'s two-word search: one list instead of an intersection of two).
    NamePair,
    /// Two name tokens ([`crate::normalize::name_tokens`]) of one full name, in either order.
    NamePairAlike,
    /// A folded word of a full name with the first letters of a word of the same name.
    NamePairPrefix,
}

impl IndexKind {
    /// The domain-separation byte. Stable: changing one orphans every token already stored.
    fn domain(self) -> u8 {
        match self {
            IndexKind::Name => 1,
            IndexKind::Phone => 2,
            IndexKind::Document => 3,
            IndexKind::NameSpelling => 4,
            IndexKind::NamePrefix => 5,
            IndexKind::NamePair => 6,
            IndexKind::NamePairAlike => 7,
            IndexKind::NamePairPrefix => 8,
        }
    }
}

/// The key blind-index tokens are made under. Zeroized on drop; `Debug` prints no bytes.
pub struct IndexKey(Zeroizing<[u8; KEY_LEN]>);

impl IndexKey {
    /// An index key from raw bytes (moved in, zeroized with the key).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> IndexKey {
        IndexKey(Zeroizing::new(bytes))
    }

    /// An index key copied from a buffer the caller zeroizes.
    pub(crate) fn from_key_ref(bytes: &[u8; KEY_LEN]) -> IndexKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        IndexKey(key)
    }

    /// A second copy of the key, for a thread that makes tokens beside the store's (zeroized
    /// on drop like this one).
    pub(crate) fn duplicate(&self) -> IndexKey {
        IndexKey::from_key_ref(&self.0)
    }

    /// The token for one normalized value: HMAC-SHA256(key, version || kind || value),
    /// truncated to 16 bytes. The two-byte prefix has a fixed length, so no (kind, value) pair
    /// can be spelled as another.
    pub fn token(&self, kind: IndexKind, normalized: &str) -> Token {
        self.hasher().token(kind, normalized)
    }

    /// The key prepared for making many tokens in a row (a case's two dozen): the HMAC's key
    /// blocks are hashed once instead of once per token, which halves the hashing.
    pub fn hasher(&self) -> TokenHasher {
        TokenHasher(
            <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
                .expect("HMAC accepts keys of any length"),
        )
    }
}

/// An [`IndexKey`] with its HMAC key blocks already hashed. That state is as secret as the
/// key, and the `hmac` crate cannot zeroize it, so a hasher is made for one batch of tokens
/// and dropped (never stored); the key it came from stays zeroized on drop.
pub struct TokenHasher(Hmac<Sha256>);

impl TokenHasher {
    /// The same token as [`IndexKey::token`].
    pub fn token(&self, kind: IndexKind, normalized: &str) -> Token {
        let mut mac = self.0.clone();
        mac.update(&[TOKEN_SCHEME_VERSION, kind.domain()]);
        mac.update(normalized.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut token = [0u8; 16];
        token.copy_from_slice(&full[..16]);
        token
    }
}

impl fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHasher(<redacted>)")
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_and_keyed() {
        let k = IndexKey::from_bytes([1; 32]);
        assert_eq!(
            k.token(IndexKind::Phone, "772123456"),
            k.token(IndexKind::Phone, "772123456")
        );
        assert_ne!(
            k.token(IndexKind::Phone, "772123456"),
            k.token(IndexKind::Phone, "772123457")
        );
        let other = IndexKey::from_bytes([2; 32]);
        assert_ne!(
            k.token(IndexKind::Phone, "772123456"),
            other.token(IndexKind::Phone, "772123456")
        );
    }

    #[test]
    fn kinds_are_separate_domains() {
        let k = IndexKey::from_bytes([1; 32]);
        let kinds = [
            IndexKind::Name,
            IndexKind::Phone,
            IndexKind::Document,
            IndexKind::NameSpelling,
            IndexKind::NamePrefix,
        ];
        for a in kinds {
            for b in kinds {
                if a != b {
                    assert_ne!(k.token(a, "123456"), k.token(b, "123456"), "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn token_is_truncated_hmac_over_version_kind_and_value() {
        let k = IndexKey::from_bytes([9; 32]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[9; 32]).unwrap();
        mac.update(b"\x01\x03AB1234");
        let full = mac.finalize().into_bytes();
        assert_eq!(k.token(IndexKind::Document, "AB1234")[..], full[..16]);
    }

    #[test]
    fn a_prepared_hasher_makes_the_same_tokens() {
        let k = IndexKey::from_bytes([7; 32]);
        let hasher = k.hasher();
        for (kind, value) in [
            (IndexKind::Name, "amina"),
            (IndexKind::NamePair, "amina okelo"),
            (IndexKind::Phone, "772123456"),
        ] {
            assert_eq!(hasher.token(kind, value), k.token(kind, value));
        }
        assert_ne!(
            hasher.token(IndexKind::Name, "amina"),
            hasher.token(IndexKind::Name, "aminah")
        );
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        assert_eq!(
            format!("{:?}", IndexKey::from_bytes([0xCD; 32])),
            "IndexKey(<redacted>)"
        );
    }
}
