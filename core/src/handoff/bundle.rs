//! The bundle: making one and opening one. Pure: no I/O, no clock, no store.
//!
//! Format, version 1 (integers little-endian):
//!
//! ```text
//! "FCHB" | version (1) | header length (u16) | header (JSON)      ← clear, authenticated
//! nonce (24)                                                      ← XChaCha20-Poly1305
//! ciphertext of: signature (64) | payload length (u32) | payload (zstd JSON) | attachments
//! tag (16)
//! ```
//!
//! The header says who the bundle is for and from, when it was made and until when it may be
//! read, and carries the sender's ephemeral X25519 public key. The key is HKDF-SHA256 over the
//! X25519 secret of that ephemeral key and the receiving agency's key, salted with both public
//! keys. Everything before the nonce is the associated data, so a header changed in transit
//! (another agency, a later expiry) makes the bundle fail to open. The signature is the
//! signing device's Ed25519 signature of a domain label, the header bytes and the payload, so
//! the payload cannot be re-addressed or re-dated under the same signature either; the
//! attachments are bound to it by their SHA-256 in the payload. The server, which cannot
//! decrypt, is later shown the header, the payload and the signature ([`SignedReferral`]) and
//! checks the same signature.

use super::contents::{self, Payload};
use super::keys::{AgencyPublicKey, AgencySecretKey, DevicePublicKey, DeviceSigningKey};
use super::HandoffError;
use crate::attachments::Sha256Digest;
use crate::codec::DecodeLimits;
use crate::ids::{AgencyCode, DeviceId};
use crate::referral::Referral;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"FCHB";
/// The only bundle format this build makes and reads.
pub const BUNDLE_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SIGNATURE_LEN: usize = 64;
/// Longest header: a few agency codes, ids and numbers.
const MAX_HEADER_BYTES: usize = 1024;
/// Largest bundle read: the largest attachment the store accepts, and room for the rest.
pub const MAX_BUNDLE_BYTES: usize = 12 * 1024 * 1024;
/// How long a bundle may be read after it is made, at most: a week of no network.
pub const MAX_LIFETIME_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// How long a bundle may be read after it is made, unless the caseworker says otherwise:
/// long enough for a handoff that waits for the other caseworker's shift.
pub const DEFAULT_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;
/// How far in the future by the reading phone's clock a bundle's creation may be: the same
/// allowance the server gives operations ([`crate::protocol::MAX_CLOCK_AHEAD_MS`]).
pub const MAX_CREATED_AHEAD_MS: u64 = crate::protocol::MAX_CLOCK_AHEAD_MS;

const SIGNATURE_DOMAIN: &[u8] = b"fieldcase/v1/handoff/signature\0";
const KEY_INFO: &[u8] = b"fieldcase/v1/handoff/key";

/// The bounds the payload's JSON is decoded under: one referral and one case's worth of
/// fields, far below a sync body's.
const PAYLOAD_LIMITS: DecodeLimits = DecodeLimits {
    decompressed_bytes: 2 * 1024 * 1024,
    ..crate::protocol::PUSH_LIMITS
};

/// A bundle's unique id: the receiving phone and the server refuse a second reading of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BundleId(pub uuid::Uuid);

impl BundleId {
    pub fn new_random() -> BundleId {
        BundleId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The clear part of a bundle. Nothing in it identifies the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub id: BundleId,
    pub from: AgencyCode,
    pub to: AgencyCode,
    /// The device that made and signed it.
    pub device: DeviceId,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// The sender's ephemeral X25519 public key, hex.
    pub epk: String,
}

/// What the sender puts in: the referral and the case as its phone holds them.
pub struct MakeInput<'a> {
    pub referral_op: &'a crate::Operation,
    pub case: &'a crate::merge::RecordState,
    pub attachments: &'a [contents::CandidateAttachment],
    pub device: DeviceId,
    pub now_ms: u64,
    pub lifetime_ms: u64,
}

/// A made bundle: its bytes and its id.
pub struct MadeBundle {
    pub id: BundleId,
    pub bytes: Vec<u8>,
    /// What the server is shown to reconcile it (the sender keeps it too).
    pub signed: SignedReferral,
}

impl fmt::Debug for MadeBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MadeBundle")
            .field("id", &self.id)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Makes a bundle of `input` for `recipient`, signed with `signer`.
pub fn make(
    input: &MakeInput<'_>,
    signer: &DeviceSigningKey,
    recipient: &AgencyPublicKey,
) -> Result<MadeBundle, HandoffError> {
    if input.lifetime_ms == 0 || input.lifetime_ms > MAX_LIFETIME_MS {
        return Err(HandoffError::Lifetime);
    }
    let fields: crate::model::Fields = input
        .referral_op
        .fields
        .iter()
        .map(|(k, c)| (k.clone(), c.value.clone()))
        .collect();
    let referral = Referral::from_stored(&fields)
        .map_err(|_| HandoffError::Invalid("the referral is not a valid referral"))?;
    let (payload, attachment_bytes) =
        contents::select(input.referral_op, &referral, input.case, input.attachments);
    let ephemeral = AgencySecretKey::generate();
    let header = Header {
        id: BundleId::new_random(),
        from: referral.from_agency.clone(),
        to: referral.to_agency.clone(),
        device: input.device,
        created_ms: input.now_ms,
        expires_ms: input.now_ms.saturating_add(input.lifetime_ms),
        epk: ephemeral.public().to_hex(),
    };
    let header_json = serde_json::to_vec(&header).expect("a header serializes");
    let mut aad = Vec::with_capacity(7 + header_json.len());
    aad.extend_from_slice(MAGIC);
    aad.push(BUNDLE_VERSION);
    aad.extend_from_slice(&(header_json.len() as u16).to_le_bytes());
    aad.extend_from_slice(&header_json);

    let payload_bytes = crate::codec::encode_body(&payload);
    let signature = signer.sign(&signed_message(&header_json, &payload_bytes));
    let attachments_len: usize = attachment_bytes.iter().map(Vec::len).sum();
    let mut plain = Zeroizing::new(Vec::with_capacity(
        SIGNATURE_LEN + 4 + payload_bytes.len() + attachments_len + TAG_LEN,
    ));
    plain.extend_from_slice(&signature);
    plain.extend_from_slice(&(payload_bytes.len() as u32).to_le_bytes());
    plain.extend_from_slice(&payload_bytes);
    for bytes in &attachment_bytes {
        plain.extend_from_slice(bytes);
    }
    let key = bundle_key(
        ephemeral.agree(&recipient.0),
        &ephemeral.public().0,
        &recipient.0,
    )
    .ok_or(HandoffError::Invalid(
        "the receiving agency's key is not usable",
    ))?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), &aad, plain.as_mut_slice())
        .map_err(|_| HandoffError::TooLarge)?;
    let mut bytes = aad;
    bytes.reserve(NONCE_LEN + plain.len() + TAG_LEN);
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&plain);
    bytes.extend_from_slice(&tag);
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(HandoffError::TooLarge);
    }
    Ok(MadeBundle {
        id: header.id,
        bytes,
        signed: SignedReferral {
            header: header_json,
            payload: payload_bytes,
            signature,
        },
    })
}

/// What the reading phone knows about the device that signed a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownSigner {
    pub agency: AgencyCode,
    pub key: DevicePublicKey,
    /// Revoked as far as this phone last heard from the server.
    pub revoked: bool,
}

/// What the reading phone brings: who it is, the keys it holds, and what it has already read.
pub struct ReadContext<'a> {
    pub agency: &'a AgencyCode,
    pub agency_key: &'a AgencySecretKey,
    pub now_ms: u64,
    /// The signing device as this phone knows it (`None`: never heard of).
    pub signer: &'a dyn Fn(DeviceId) -> Option<KnownSigner>,
    /// Whether this bundle id was read here before.
    pub seen: &'a dyn Fn(BundleId) -> bool,
}

/// A bundle that passed every check: what to import.
pub struct OpenedBundle {
    pub header: Header,
    pub referral: Referral,
    pub payload: Payload,
    /// The attachments' bytes, in the payload's order, each checked against its digest.
    pub attachments: Vec<Vec<u8>>,
    /// What the server is shown to reconcile it.
    pub signed: SignedReferral,
}

impl fmt::Debug for OpenedBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedBundle")
            .field("header", &self.header)
            .field("referral", &self.referral)
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

/// Reads the clear header without opening anything: which agency a bundle is for, for a
/// message that says so before any key is used.
pub fn peek_header(bytes: &[u8]) -> Result<Header, HandoffError> {
    split(bytes).map(|(header, _, _)| header)
}

/// Opens, verifies and checks a bundle (see the module docs); every failure is a typed error
/// and nothing is returned to import.
pub fn open(bytes: &[u8], ctx: &ReadContext<'_>) -> Result<OpenedBundle, HandoffError> {
    let (header, header_json, aad_len) = split(bytes)?;
    if &header.to != ctx.agency {
        return Err(HandoffError::WrongAgency);
    }
    let epk = super::keys::AgencyPublicKey::parse_hex(&header.epk)
        .ok_or(HandoffError::Malformed("ephemeral key"))?;
    let body = &bytes[aad_len..];
    if body.len() < NONCE_LEN + TAG_LEN + SIGNATURE_LEN + 4 {
        return Err(HandoffError::Malformed("bundle too short"));
    }
    let (nonce, rest) = body.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let key = bundle_key(
        ctx.agency_key.agree(&epk.0),
        &epk.0,
        &ctx.agency_key.public().0,
    )
    .ok_or(HandoffError::Tampered)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    cipher
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            &bytes[..aad_len],
            plain.as_mut_slice(),
            chacha20poly1305::Tag::from_slice(tag),
        )
        .map_err(|_| HandoffError::Tampered)?;
    let signature: [u8; SIGNATURE_LEN] = plain[..SIGNATURE_LEN].try_into().expect("64 bytes");
    let payload_len = u32::from_le_bytes(
        plain[SIGNATURE_LEN..SIGNATURE_LEN + 4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    let payload_start = SIGNATURE_LEN + 4;
    let payload_end = payload_start
        .checked_add(payload_len)
        .filter(|end| *end <= plain.len())
        .ok_or(HandoffError::Malformed("payload length"))?;
    let signed = SignedReferral {
        header: header_json,
        payload: plain[payload_start..payload_end].to_vec(),
        signature,
    };
    let signer = (ctx.signer)(header.device).ok_or(HandoffError::UnknownDevice)?;
    let (_, payload, referral) = signed.verify(&signer.key)?;
    if signer.agency != header.from {
        return Err(HandoffError::BadSignature);
    }
    if signer.revoked {
        return Err(HandoffError::RevokedDevice);
    }
    check_times(&header, ctx.now_ms)?;
    if (ctx.seen)(header.id) {
        return Err(HandoffError::Replayed);
    }
    let mut attachments = Vec::with_capacity(payload.attachments.len());
    let mut at = payload_end;
    for entry in &payload.attachments {
        let end = usize::try_from(entry.size)
            .ok()
            .and_then(|size| at.checked_add(size))
            .filter(|end| *end <= plain.len())
            .ok_or(HandoffError::Malformed("attachment length"))?;
        let content = &plain[at..end];
        if Sha256Digest::of(content) != entry.sha256 {
            return Err(HandoffError::Tampered);
        }
        attachments.push(content.to_vec());
        at = end;
    }
    if at != plain.len() {
        return Err(HandoffError::Malformed("trailing bytes"));
    }
    Ok(OpenedBundle {
        header,
        referral,
        payload,
        attachments,
        signed,
    })
}

/// A bundle's validity window, by the reader's clock.
pub fn check_times(header: &Header, now_ms: u64) -> Result<(), HandoffError> {
    if header.expires_ms <= header.created_ms
        || header.expires_ms - header.created_ms > MAX_LIFETIME_MS
    {
        return Err(HandoffError::Lifetime);
    }
    if header.created_ms > now_ms.saturating_add(MAX_CREATED_AHEAD_MS) {
        return Err(HandoffError::NotYetValid);
    }
    if now_ms >= header.expires_ms {
        return Err(HandoffError::Expired);
    }
    Ok(())
}

/// The signed part of a bundle, without encryption and without the attachments' bytes: what
/// either phone shows the server to reconcile a handoff. The server checks the signature with
/// the signing device's registered key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReferral {
    /// The header's JSON bytes, exactly as signed.
    #[serde(with = "base64_bytes")]
    pub header: Vec<u8>,
    /// The payload as signed (zstd-compressed JSON).
    #[serde(with = "base64_bytes")]
    pub payload: Vec<u8>,
    #[serde(with = "base64_signature")]
    pub signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for SignedReferral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedReferral")
            .field("header_bytes", &self.header.len())
            .field("payload_bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl SignedReferral {
    /// The header, parsed (not yet verified).
    pub fn header(&self) -> Result<Header, HandoffError> {
        if self.header.len() > MAX_HEADER_BYTES {
            return Err(HandoffError::Malformed("header too long"));
        }
        serde_json::from_slice(&self.header).map_err(|_| HandoffError::Malformed("header"))
    }

    /// Verifies the signature with `key` and checks the contents against the header (the
    /// referral goes between the header's agencies, written by the signing device, sharing
    /// only what consent allows). Does not check times, revocation or replay: the caller
    /// knows its clock and its records.
    pub fn verify(
        &self,
        key: &DevicePublicKey,
    ) -> Result<(Header, Payload, Referral), HandoffError> {
        let header = self.header()?;
        if !key.verifies(
            &signed_message(&self.header, &self.payload),
            &self.signature,
        ) {
            return Err(HandoffError::BadSignature);
        }
        let payload: Payload = crate::codec::decode_body_with(&self.payload, &PAYLOAD_LIMITS)
            .map_err(|_| HandoffError::Malformed("payload"))?;
        let referral = contents::check_contents(&payload, &header.from, &header.to, header.device)?;
        Ok((header, payload, referral))
    }
}

fn signed_message(header_json: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(SIGNATURE_DOMAIN.len() + 8 + header_json.len() + payload.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(&(header_json.len() as u64).to_le_bytes());
    message.extend_from_slice(header_json);
    message.extend_from_slice(payload);
    message
}

/// The symmetric key: HKDF-SHA256 over the X25519 secret `shared`, salted with the ephemeral
/// public key and the recipient's public key (so the key is bound to both ends).
fn bundle_key(
    shared: Option<Zeroizing<[u8; 32]>>,
    ephemeral_public: &[u8; 32],
    recipient_public: &[u8; 32],
) -> Option<Zeroizing<[u8; 32]>> {
    let shared = shared?;
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral_public);
    salt[32..].copy_from_slice(recipient_public);
    let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared.as_ref());
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(KEY_INFO, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Some(key)
}

/// Splits the clear header off: (header, its JSON bytes, length of the associated data).
fn split(bytes: &[u8]) -> Result<(Header, Vec<u8>, usize), HandoffError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(HandoffError::TooLarge);
    }
    if bytes.len() < 7 || &bytes[..4] != MAGIC {
        return Err(HandoffError::Malformed("not a fieldcase handoff bundle"));
    }
    if bytes[4] != BUNDLE_VERSION {
        return Err(HandoffError::UnsupportedVersion(bytes[4]));
    }
    let header_len = u16::from_le_bytes([bytes[5], bytes[6]]) as usize;
    if header_len > MAX_HEADER_BYTES || bytes.len() < 7 + header_len {
        return Err(HandoffError::Malformed("header length"));
    }
    let header_json = bytes[7..7 + header_len].to_vec();
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| HandoffError::Malformed("header"))?;
    Ok((header, header_json, 7 + header_len))
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

mod base64_signature {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        super::base64_bytes::serialize(bytes, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        super::base64_bytes::deserialize(d)?
            .try_into()
            .map_err(|_| serde::de::Error::custom("a signature is 64 bytes"))
    }
}
