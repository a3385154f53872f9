//! Cryptography for the local store (and the server's at-rest sealing): key derivation, the
//! versioned key envelope, sealing values with bound associated data, and blind indexes.
//!
//! Nothing here does I/O. Keys live in zeroizing buffers and never implement `Debug` with
//! their bytes; errors carry no key material and no plaintext.
//!
//! The pieces, top down: [`KeyEnvelope`] wraps the random [`DataKey`] under a key derived from
//! the passphrase ([`kdf`]); the data key yields [`StoreKeys`]: a [`SealKey`] that seals each
//! stored value bound to where it is stored ([`Aad`]), and an [`IndexKey`] that turns
//! normalized names, phones and document numbers ([`crate::normalize`]) into blind-index
//! [`Token`]s.

pub mod blind_index;
pub mod envelope;
pub mod kdf;
pub mod keys;
pub mod seal;

pub use blind_index::{IndexKey, IndexKind, Token, TokenHasher};
pub use envelope::KeyEnvelope;
pub use kdf::KdfParams;
pub use keys::{DataKey, GuardKey, StoreKeys};
pub use seal::{Aad, SealKey};

/// Length of every symmetric key in this layer: 256 bits.
pub(crate) const KEY_LEN: usize = 32;
/// XChaCha20-Poly1305 nonce length. 192 random bits: nonces chosen at random never repeat in
/// practice, so no counter has to be kept in step across devices or restores.
pub(crate) const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;

/// What can go wrong in this layer. Messages never include key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The passphrase (or extra secret) does not unwrap the data key.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The envelope says an extra secret (from the platform keystore) is needed and none was given.
    #[error("this store needs the device's extra secret from the platform keystore")]
    MissingExtraSecret,
    /// A sealed value failed authentication: it was altered, truncated or moved.
    #[error("integrity check failed: the stored value was altered, truncated or moved")]
    Integrity,
    /// Argon2 parameters below the safety floor or above the ceiling this build accepts.
    #[error("key derivation parameters out of bounds: {0}")]
    KdfOutOfBounds(&'static str),
    /// An envelope or sealed value written by an unknown format version.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// Bytes that are not an envelope or sealed value at all.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The extra secret offered when wrapping is too short to add any protection (an empty
    /// secret would mark the store as needing one while mixing in nothing).
    #[error("the extra secret from the platform keystore must be at least {0} bytes")]
    WeakExtraSecret(usize),
}
