//! Referral handoff with no network: one phone hands a referral to a phone of the receiving
//! agency as a signed, encrypted bundle, carried by QR codes or a file. Documented in
//! `docs/handoff.md`.
//!
//! - [`keys`]: device signing keys (Ed25519) and agency keys (X25519);
//! - [`contents`]: what a bundle carries, chosen by the same sharing rules the server applies;
//! - [`bundle`]: the format — make, open, verify;
//! - [`qr`]: cutting a bundle into QR-sized chunks and putting it back together;
//! - [`receipt`]: the receiving phone's signed answer, shown back to the referring phone.
//!
//! Nothing here does I/O; the store makes and imports bundles with these pieces.

pub mod bundle;
pub mod contents;
pub mod keys;
pub mod qr;
pub mod receipt;

pub use bundle::{
    make, open, peek_header, BundleId, Header, KnownSigner, MadeBundle, MakeInput, OpenedBundle,
    ReadContext, SignedReferral, DEFAULT_LIFETIME_MS, MAX_BUNDLE_BYTES, MAX_LIFETIME_MS,
};
pub use contents::{CandidateAttachment, Payload};
pub use keys::{AgencyPublicKey, AgencySecretKey, DevicePublicKey, DeviceSigningKey};

/// Why a bundle cannot be made or read. Every reading failure imports nothing. Messages name
/// no value of the case and no key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    #[error("this is not a readable handoff bundle: {0}")]
    Malformed(&'static str),
    #[error("this bundle was made by a newer version of fieldcase (format {0}); update the app")]
    UnsupportedVersion(u8),
    #[error("the bundle is too large")]
    TooLarge,
    #[error("this bundle is meant for another agency")]
    WrongAgency,
    #[error("the bundle was altered or damaged on the way, or is not for this agency's key")]
    Tampered,
    #[error(
        "the bundle was made by a device this phone does not know; sync once, then read it again"
    )]
    UnknownDevice,
    #[error("the bundle was made by a device whose access was revoked")]
    RevokedDevice,
    #[error("the bundle's signature is not valid")]
    BadSignature,
    #[error("the bundle has expired; ask for a new one")]
    Expired,
    #[error("the bundle was made in the future by this phone's clock; check both phones' clocks")]
    NotYetValid,
    #[error("a bundle may be read for at most 7 days after it is made")]
    Lifetime,
    #[error("this bundle was already read")]
    Replayed,
    #[error("the bundle shares {field}, which the case's consent does not allow")]
    NotConsented { field: String },
    #[error("the bundle's contents are not valid: {0}")]
    Invalid(&'static str),
    #[error("this phone has no handoff keys yet: sync once with a network, then try again")]
    NoKeys,
}

impl HandoffError {
    /// A stable code for the app and the wire.
    pub fn code(&self) -> &'static str {
        match self {
            HandoffError::Malformed(_) => "malformed",
            HandoffError::UnsupportedVersion(_) => "unsupported_version",
            HandoffError::TooLarge => "too_large",
            HandoffError::WrongAgency => "wrong_agency",
            HandoffError::Tampered => "tampered",
            HandoffError::UnknownDevice => "unknown_device",
            HandoffError::RevokedDevice => "revoked_device",
            HandoffError::BadSignature => "bad_signature",
            HandoffError::Expired => "expired",
            HandoffError::NotYetValid => "not_yet_valid",
            HandoffError::Lifetime => "lifetime",
            HandoffError::Replayed => "replayed",
            HandoffError::NotConsented { .. } => "not_consented",
            HandoffError::Invalid(_) => "invalid",
            HandoffError::NoKeys => "no_keys",
        }
    }
}

#[cfg(test)]
mod tests;
