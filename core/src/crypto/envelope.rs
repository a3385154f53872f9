//! The key envelope: the store's data key, wrapped under a key derived from the caseworker's
//! passphrase, in a small versioned file kept beside the database.
//!
//! Guarantees: the envelope says everything needed to unwrap it (format version, Argon2
//! parameters, salt, whether the platform keystore's extra secret is needed), and all of that
//! is authenticated together with a caller-given context (the store id): changing any stored
//! parameter, or moving the envelope to another store, makes unwrapping fail. Parameters are
//! checked against the floor and ceiling before Argon2 runs, so a tampered envelope cannot
//! make unlock hang or exhaust memory. Parsing never panics on any input. The key-encryption
//! key and the unwrapped key live only in zeroizing buffers.
//!
//! Not done here: reading or writing the file, rate-limiting guesses (Argon2's cost is the
//! only brake), or keeping the extra secret (the app gets it from the Android Keystore / iOS
//! Keychain and passes it in). Changing the passphrase is [`KeyEnvelope::unwrap_key`] then
//! [`KeyEnvelope::wrap`] of the same data key; nothing sealed under it changes.
//!
//! Format, version 1 (integers little-endian), [`ENVELOPE_LEN`] bytes:
//!
//! | bytes   | field                                              |
//! |---------|----------------------------------------------------|
//! | 0..4    | magic `FCKE`                                       |
//! | 4       | version (1)                                        |
//! | 5       | flags: bit 0 = needs extra secret, bit 1 = guarded |
//! | 6..18   | Argon2id memory KiB, iterations, parallelism (u32) |
//! | 18..34  | salt (16 random bytes)                             |
//! | 34..58  | XChaCha20-Poly1305 nonce (24 random bytes)         |
//! | 58..106 | wrapped data key (32 bytes) and tag (16 bytes)     |
//!
//! "Guarded" says the store keeps an unlock guard (failed-unlock count, see `store::guard`)
//! beside this envelope: being authenticated, the flag lets the store tell a guard that was
//! deleted to reset the count from a store made before guards existed.
//!
//! The associated data of the wrap is bytes 0..34 followed by the context's length (u64) and
//! the context itself.

use super::kdf::derive_kek;
use super::{CryptoError, DataKey, KdfParams, KEY_LEN, NONCE_LEN, TAG_LEN};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// Identifies a fieldcase key envelope, so another file put in its place is reported as
/// malformed rather than as a wrong passphrase.
const MAGIC: &[u8; 4] = b"FCKE";
/// The only envelope format this build reads and writes.
pub const ENVELOPE_VERSION: u8 = 1;
/// Argon2 salt length: 128 bits, the length Argon2's authors recommend.
const SALT_LEN: usize = 16;
/// Flag bit: the KEK mixes in the platform keystore's extra secret.
const FLAG_EXTRA_SECRET: u8 = 0b0000_0001;
/// Flag bit: the store this envelope belongs to keeps an unlock guard.
const FLAG_GUARDED: u8 = 0b0000_0010;
/// The shortest extra secret [`KeyEnvelope::wrap`] accepts. The keystore secret is meant to be
/// 32 random bytes; anything under 128 bits adds too little to be worth depending on, and an
/// empty one would mark the store as needing a secret while adding nothing.
pub const MIN_EXTRA_SECRET_LEN: usize = 16;

/// Length of magic, version, flags, parameters and salt: the authenticated header.
const HEADER_LEN: usize = 4 + 1 + 1 + 3 * 4 + SALT_LEN;
/// Length of a version-1 envelope.
pub const ENVELOPE_LEN: usize = HEADER_LEN + NONCE_LEN + KEY_LEN + TAG_LEN;

/// The wrapped data key and everything needed to unwrap it, except the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyEnvelope {
    /// The Argon2id parameters the KEK was derived with.
    pub kdf: KdfParams,
    /// Whether the KEK also needs the extra secret from the platform keystore.
    pub needs_extra_secret: bool,
    /// Whether the store keeps an unlock guard (authenticated like every header field).
    guarded: bool,
    version: u8,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    /// Ciphertext of the data key followed by the tag.
    wrapped: [u8; KEY_LEN + TAG_LEN],
}

impl KeyEnvelope {
    /// Wraps `dek` under a KEK derived from `passphrase` (and `extra_secret`, if given) with
    /// `params` and a fresh random salt. `context` (the store id) must be given again to
    /// unwrap.
    ///
    /// Errors: [`CryptoError::KdfOutOfBounds`] for parameters outside this build's bounds,
    /// [`CryptoError::WeakExtraSecret`] for an extra secret shorter than
    /// [`MIN_EXTRA_SECRET_LEN`].
    pub fn wrap(
        dek: &DataKey,
        passphrase: &[u8],
        extra_secret: Option<&[u8]>,
        params: KdfParams,
        context: &[u8],
    ) -> Result<KeyEnvelope, CryptoError> {
        KeyEnvelope::wrap_with(dek, passphrase, extra_secret, params, context, false)
    }

    /// [`KeyEnvelope::wrap`] for a store that keeps an unlock guard: the envelope says so,
    /// authenticated, so the guard cannot be deleted unnoticed.
    pub fn wrap_guarded(
        dek: &DataKey,
        passphrase: &[u8],
        extra_secret: Option<&[u8]>,
        params: KdfParams,
        context: &[u8],
    ) -> Result<KeyEnvelope, CryptoError> {
        KeyEnvelope::wrap_with(dek, passphrase, extra_secret, params, context, true)
    }

    fn wrap_with(
        dek: &DataKey,
        passphrase: &[u8],
        extra_secret: Option<&[u8]>,
        params: KdfParams,
        context: &[u8],
        guarded: bool,
    ) -> Result<KeyEnvelope, CryptoError> {
        params.check()?;
        if extra_secret.is_some_and(|secret| secret.len() < MIN_EXTRA_SECRET_LEN) {
            return Err(CryptoError::WeakExtraSecret(MIN_EXTRA_SECRET_LEN));
        }
        let mut envelope = KeyEnvelope {
            kdf: params,
            needs_extra_secret: extra_secret.is_some(),
            guarded,
            version: ENVELOPE_VERSION,
            salt: [0; SALT_LEN],
            nonce: [0; NONCE_LEN],
            wrapped: [0; KEY_LEN + TAG_LEN],
        };
        OsRng.fill_bytes(&mut envelope.salt);
        OsRng.fill_bytes(&mut envelope.nonce);

        let kek = derive_kek(&params, &envelope.salt, passphrase, extra_secret)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(dek.expose_bytes());
        let tag = XChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
            .encrypt_in_place_detached(
                XNonce::from_slice(&envelope.nonce),
                &envelope.associated_data(context),
                key.as_mut(),
            )
            .expect("XChaCha20-Poly1305 can seal 32 bytes");
        // `key` now holds ciphertext.
        envelope.wrapped[..KEY_LEN].copy_from_slice(key.as_ref());
        envelope.wrapped[KEY_LEN..].copy_from_slice(&tag);
        Ok(envelope)
    }

    /// Unwraps the data key.
    ///
    /// An extra secret is required when [`needs_extra_secret`](Self::needs_extra_secret) is
    /// set, and ignored when it is not (the flag is authenticated, so it cannot be cleared to
    /// skip the secret).
    ///
    /// Errors: [`CryptoError::MissingExtraSecret`] when one is needed and none is given;
    /// [`CryptoError::KdfOutOfBounds`] when the stored parameters are outside this build's
    /// bounds (checked before Argon2 runs); [`CryptoError::WrongPassphrase`] when the
    /// passphrase, extra secret or context is wrong or the envelope was altered;
    /// [`CryptoError::UnsupportedVersion`] for an envelope of another version.
    pub fn unwrap_key(
        &self,
        passphrase: &[u8],
        extra_secret: Option<&[u8]>,
        context: &[u8],
    ) -> Result<DataKey, CryptoError> {
        if self.version != ENVELOPE_VERSION {
            return Err(CryptoError::UnsupportedVersion(self.version));
        }
        let extra_secret = match (self.needs_extra_secret, extra_secret) {
            (true, None) => return Err(CryptoError::MissingExtraSecret),
            (true, given) => given,
            (false, _) => None,
        };
        let kek = derive_kek(&self.kdf, &self.salt, passphrase, extra_secret)?;
        let (ciphertext, tag) = self.wrapped.split_at(KEY_LEN);
        // Decrypted straight into the key's own zeroizing buffer; on failure it holds only
        // ciphertext and is dropped.
        let mut dek = DataKey::from_bytes([0; KEY_LEN]);
        dek.bytes_mut().copy_from_slice(ciphertext);
        XChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
            .decrypt_in_place_detached(
                XNonce::from_slice(&self.nonce),
                &self.associated_data(context),
                dek.bytes_mut(),
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::WrongPassphrase)?;
        Ok(dek)
    }

    /// Whether the store keeps an unlock guard beside this envelope.
    pub fn guarded(&self) -> bool {
        self.guarded
    }

    /// The envelope's format version.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The envelope in its stored form (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_LEN);
        out.extend_from_slice(&self.header());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.wrapped);
        out
    }

    /// Parses a stored envelope. Parameters are not checked here but when unwrapping, so an
    /// out-of-bounds envelope can still be read and reported.
    ///
    /// Errors: [`CryptoError::Malformed`] for bytes that are not a whole envelope;
    /// [`CryptoError::UnsupportedVersion`] for an envelope of another version.
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyEnvelope, CryptoError> {
        const WHAT: &str = "key envelope";
        let Some((magic, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(CryptoError::Malformed(WHAT));
        };
        if magic != MAGIC {
            return Err(CryptoError::Malformed(WHAT));
        }
        let Some((&version, _)) = rest.split_first() else {
            return Err(CryptoError::Malformed(WHAT));
        };
        if version != ENVELOPE_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        let Ok(bytes) = <&[u8; ENVELOPE_LEN]>::try_from(bytes) else {
            return Err(CryptoError::Malformed(WHAT));
        };
        let flags = bytes[5];
        if flags & !(FLAG_EXTRA_SECRET | FLAG_GUARDED) != 0 {
            return Err(CryptoError::Malformed(WHAT));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut envelope = KeyEnvelope {
            kdf: KdfParams {
                memory_kib: u32_at(6),
                iterations: u32_at(10),
                parallelism: u32_at(14),
            },
            needs_extra_secret: flags & FLAG_EXTRA_SECRET != 0,
            guarded: flags & FLAG_GUARDED != 0,
            version,
            salt: [0; SALT_LEN],
            nonce: [0; NONCE_LEN],
            wrapped: [0; KEY_LEN + TAG_LEN],
        };
        envelope.salt.copy_from_slice(&bytes[18..HEADER_LEN]);
        envelope
            .nonce
            .copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + NONCE_LEN]);
        envelope
            .wrapped
            .copy_from_slice(&bytes[HEADER_LEN + NONCE_LEN..]);
        Ok(envelope)
    }

    /// Magic, version, flags, parameters and salt, as stored.
    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = self.version;
        header[5] = if self.needs_extra_secret {
            FLAG_EXTRA_SECRET
        } else {
            0
        } | if self.guarded { FLAG_GUARDED } else { 0 };
        header[6..10].copy_from_slice(&self.kdf.memory_kib.to_le_bytes());
        header[10..14].copy_from_slice(&self.kdf.iterations.to_le_bytes());
        header[14..18].copy_from_slice(&self.kdf.parallelism.to_le_bytes());
        header[18..].copy_from_slice(&self.salt);
        header
    }

    /// What the wrap authenticates besides the key: the header and the length-prefixed
    /// context, so every stored parameter and the store the envelope belongs to are bound.
    fn associated_data(&self, context: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(HEADER_LEN + 8 + context.len());
        aad.extend_from_slice(&self.header());
        aad.extend_from_slice(&(context.len() as u64).to_le_bytes());
        aad.extend_from_slice(context);
        aad
    }
}

impl fmt::Debug for KeyEnvelope {
    /// Shows what the envelope says about itself; salt, nonce and wrapped key are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEnvelope")
            .field("version", &self.version)
            .field("kdf", &self.kdf)
            .field("needs_extra_secret", &self.needs_extra_secret)
            .field("guarded", &self.guarded)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STORE: &[u8] = b"store-7f3a";
    const PASS: &[u8] = b"correct horse battery staple";
    const DEVICE_SECRET: &[u8] = b"32 bytes from the Android Keystr";

    fn fast() -> KdfParams {
        KdfParams::insecure_fast_for_tests()
    }

    fn dek() -> DataKey {
        DataKey::from_bytes([0x5A; 32])
    }

    fn wrapped(extra: Option<&[u8]>) -> KeyEnvelope {
        KeyEnvelope::wrap(&dek(), PASS, extra, fast(), STORE).unwrap()
    }

    #[test]
    fn wrap_unwrap_round_trip_through_bytes() {
        let envelope = wrapped(None);
        assert_eq!(envelope.version(), ENVELOPE_VERSION);
        assert_eq!(envelope.kdf, fast());
        assert!(!envelope.needs_extra_secret);
        let bytes = envelope.to_bytes();
        assert_eq!(bytes.len(), ENVELOPE_LEN);
        assert_eq!(&bytes[..4], MAGIC);
        let parsed = KeyEnvelope::from_bytes(&bytes).unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(
            parsed.unwrap_key(PASS, None, STORE).unwrap().expose_bytes(),
            &[0x5A; 32]
        );
    }

    #[test]
    fn default_parameters_work() {
        let envelope = KeyEnvelope::wrap(&dek(), PASS, None, KdfParams::DEFAULT, STORE).unwrap();
        let parsed = KeyEnvelope::from_bytes(&envelope.to_bytes()).unwrap();
        assert_eq!(parsed.kdf, KdfParams::DEFAULT);
        assert_eq!(
            parsed.unwrap_key(PASS, None, STORE).unwrap().expose_bytes(),
            &[0x5A; 32]
        );
    }

    #[test]
    #[ignore = "slow: Argon2id at the parameter ceiling"]
    fn ceiling_parameters_work() {
        let ceiling = KdfParams {
            memory_kib: 1024 * 1024,
            iterations: 10,
            parallelism: 8,
        };
        let envelope = KeyEnvelope::wrap(&dek(), PASS, None, ceiling, STORE).unwrap();
        assert_eq!(
            envelope
                .unwrap_key(PASS, None, STORE)
                .unwrap()
                .expose_bytes(),
            &[0x5A; 32]
        );
    }

    #[test]
    fn each_wrap_uses_a_fresh_salt_and_nonce() {
        let (a, b) = (wrapped(None), wrapped(None));
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.wrapped, b.wrapped);
    }

    #[test]
    fn wrong_passphrase_or_context_is_wrong_passphrase() {
        let envelope = wrapped(None);
        assert_eq!(
            envelope
                .unwrap_key(b"correct horse battery stapler", None, STORE)
                .unwrap_err(),
            CryptoError::WrongPassphrase
        );
        assert_eq!(
            envelope.unwrap_key(b"", None, STORE).unwrap_err(),
            CryptoError::WrongPassphrase
        );
        assert_eq!(
            envelope.unwrap_key(PASS, None, b"store-other").unwrap_err(),
            CryptoError::WrongPassphrase
        );
        assert_eq!(
            envelope.unwrap_key(PASS, None, b"").unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn extra_secret_required_missing_wrong_and_ignored() {
        let envelope = wrapped(Some(DEVICE_SECRET));
        assert!(envelope.needs_extra_secret);
        let parsed = KeyEnvelope::from_bytes(&envelope.to_bytes()).unwrap();
        assert_eq!(
            parsed
                .unwrap_key(PASS, Some(DEVICE_SECRET), STORE)
                .unwrap()
                .expose_bytes(),
            &[0x5A; 32]
        );
        assert_eq!(
            parsed.unwrap_key(PASS, None, STORE).unwrap_err(),
            CryptoError::MissingExtraSecret
        );
        assert_eq!(
            parsed
                .unwrap_key(PASS, Some(b"32 bytes from the Android Keystr!"), STORE)
                .unwrap_err(),
            CryptoError::WrongPassphrase
        );
        assert_eq!(
            parsed
                .unwrap_key(b"wrong", Some(DEVICE_SECRET), STORE)
                .unwrap_err(),
            CryptoError::WrongPassphrase
        );
        // A store without an extra secret opens whether or not the app passes one.
        let plain = wrapped(None);
        assert!(plain.unwrap_key(PASS, Some(DEVICE_SECRET), STORE).is_ok());
    }

    #[test]
    fn short_extra_secret_is_refused() {
        for short in [&b""[..], b"fifteen bytes!!"] {
            assert_eq!(
                KeyEnvelope::wrap(&dek(), PASS, Some(short), fast(), STORE).unwrap_err(),
                CryptoError::WeakExtraSecret(MIN_EXTRA_SECRET_LEN)
            );
        }
    }

    #[test]
    fn wrap_refuses_out_of_bounds_parameters() {
        let weak = KdfParams {
            iterations: 0,
            ..fast()
        };
        assert!(matches!(
            KeyEnvelope::wrap(&dek(), PASS, None, weak, STORE),
            Err(CryptoError::KdfOutOfBounds(_))
        ));
    }

    #[test]
    fn clearing_the_extra_secret_flag_does_not_skip_the_secret() {
        let mut bytes = wrapped(Some(DEVICE_SECRET)).to_bytes();
        bytes[5] = 0;
        let tampered = KeyEnvelope::from_bytes(&bytes).unwrap();
        assert_eq!(
            tampered.unwrap_key(PASS, None, STORE).unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn the_guarded_flag_round_trips_and_cannot_be_cleared() {
        let envelope = KeyEnvelope::wrap_guarded(&dek(), PASS, None, fast(), STORE).unwrap();
        assert!(envelope.guarded());
        let mut bytes = envelope.to_bytes();
        let parsed = KeyEnvelope::from_bytes(&bytes).unwrap();
        assert!(parsed.guarded());
        assert!(parsed.unwrap_key(PASS, None, STORE).is_ok());
        bytes[5] = 0;
        let cleared = KeyEnvelope::from_bytes(&bytes).unwrap();
        assert!(!cleared.guarded());
        assert_eq!(
            cleared.unwrap_key(PASS, None, STORE).unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn tampered_parameters_fail_fast() {
        let envelope = wrapped(None);
        let hostile = [
            KdfParams {
                memory_kib: u32::MAX,
                ..fast()
            },
            KdfParams {
                iterations: u32::MAX,
                ..fast()
            },
            KdfParams {
                parallelism: u32::MAX,
                ..fast()
            },
            KdfParams {
                iterations: 0,
                ..fast()
            },
        ];
        for kdf in hostile {
            let mut tampered = envelope.clone();
            tampered.kdf = kdf;
            let reparsed = KeyEnvelope::from_bytes(&tampered.to_bytes()).unwrap();
            assert!(
                matches!(
                    reparsed.unwrap_key(PASS, None, STORE),
                    Err(CryptoError::KdfOutOfBounds(_))
                ),
                "{kdf:?}"
            );
        }
        // In bounds but not what was wrapped: the associated data catches it.
        let mut tampered = envelope.clone();
        tampered.kdf.iterations = 2;
        assert_eq!(
            tampered.unwrap_key(PASS, None, STORE).unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn flipping_any_byte_of_the_stored_envelope_fails() {
        let bytes = wrapped(None).to_bytes();
        for at in 0..bytes.len() {
            // 0x01 and 0xFF keep every tampered parameter at most 64 MiB or out of bounds,
            // so the test stays quick while covering every field.
            for mask in [0x01u8, 0xFF] {
                let mut bad = bytes.clone();
                bad[at] ^= mask;
                let outcome =
                    KeyEnvelope::from_bytes(&bad).and_then(|e| e.unwrap_key(PASS, None, STORE));
                assert!(
                    matches!(
                        outcome,
                        Err(CryptoError::Malformed(_)
                            | CryptoError::UnsupportedVersion(_)
                            | CryptoError::KdfOutOfBounds(_)
                            | CryptoError::MissingExtraSecret
                            | CryptoError::WrongPassphrase)
                    ),
                    "byte {at} mask {mask:#x}: {outcome:?}"
                );
            }
        }
    }

    #[test]
    fn from_bytes_reports_what_is_wrong() {
        let bytes = wrapped(None).to_bytes();
        for len in 0..bytes.len() {
            let expected = CryptoError::Malformed("key envelope");
            assert_eq!(
                KeyEnvelope::from_bytes(&bytes[..len]).unwrap_err(),
                expected,
                "length {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            KeyEnvelope::from_bytes(&longer),
            Err(CryptoError::Malformed(_))
        ));

        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert_eq!(
            KeyEnvelope::from_bytes(&v2).unwrap_err(),
            CryptoError::UnsupportedVersion(2)
        );
        assert_eq!(
            KeyEnvelope::from_bytes(&v2[..5]).unwrap_err(),
            CryptoError::UnsupportedVersion(2)
        );

        let mut flags = bytes.clone();
        flags[5] = 0b100;
        assert!(matches!(
            KeyEnvelope::from_bytes(&flags),
            Err(CryptoError::Malformed(_))
        ));

        assert!(matches!(
            KeyEnvelope::from_bytes(b"SQLite format 3\0"),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn debug_shows_no_salt_nonce_or_wrapped_key() {
        let envelope = wrapped(None);
        let shown = format!("{envelope:?}");
        assert!(
            shown.starts_with("KeyEnvelope { version: 1, kdf: KdfParams"),
            "{shown}"
        );
        assert!(
            !shown.contains("salt") && !shown.contains("wrapped") && !shown.contains("nonce"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            let _ = KeyEnvelope::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_never_panics_past_the_magic(
            version in prop_oneof![Just(ENVELOPE_VERSION), any::<u8>()],
            tail in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.push(version);
            bytes.extend_from_slice(&tail);
            if let Ok(envelope) = KeyEnvelope::from_bytes(&bytes) {
                prop_assert_eq!(envelope.to_bytes(), bytes);
            }
        }
    }
}
