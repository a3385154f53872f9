//! Sealing stored values: XChaCha20-Poly1305 with a fresh random nonce per value and
//! associated data that binds each value to where it is stored.
//!
//! Guarantees: a sealed value opens only under the same key and the same [`Aad`] (table, record
//! id, part of the record); any altered, truncated or moved byte is reported as
//! [`CryptoError::Integrity`], and opening never panics on any input. Two seals of the same
//! plaintext differ, so equal values cannot be spotted in the database.
//!
//! Not done here: hiding a value's length (the ciphertext is as long as the plaintext plus
//! [`SEAL_OVERHEAD`]; pad or compress before sealing if length matters), and detecting that a
//! whole row was rolled back to an older sealed value of the same record (the store's sync
//! metadata does that).
//!
//! Format, version 1: `version (1 byte) || nonce (24 bytes) || ciphertext || tag (16 bytes)`.
//! Random 192-bit nonces make collisions negligible even for billions of values under one key.

use super::{CryptoError, KEY_LEN, NONCE_LEN, TAG_LEN};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// Format version written as the first byte of every sealed value, and bound into the
/// associated data so a value cannot be reinterpreted under another version's rules.
pub const SEAL_VERSION: u8 = 1;
/// Version byte and nonce.
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// How many bytes sealing adds to a plaintext.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// Associated data up to this size is encoded on the stack. Table and part names are short
/// labels and record ids are 16 bytes, so every value the store seals fits (about 60 bytes);
/// longer ones are still handled, on the heap.
const AAD_INLINE_LEN: usize = 128;

/// Where a sealed value lives. Bound into the seal as associated data, so a value copied onto
/// another row, another table or another column of the same row fails to open.
#[derive(Clone, Copy, Debug)]
pub struct Aad<'a> {
    /// Table (or other collection) name.
    pub table: &'a str,
    /// The record's id, as stored.
    pub record: &'a [u8],
    /// Which part of the record: a column or field name.
    pub part: &'a str,
}

impl Aad<'_> {
    /// Encoded length: version byte, then each field as an 8-byte length and its bytes.
    fn encoded_len(&self) -> usize {
        1 + 3 * 8 + self.table.len() + self.record.len() + self.part.len()
    }

    /// Writes the unambiguous encoding into `out`, which must be exactly `encoded_len` long.
    /// Length prefixes make ("ab", "c") and ("a", "bc") encode differently.
    fn encode_into(&self, out: &mut [u8]) {
        out[0] = SEAL_VERSION;
        let mut at = 1;
        for field in [self.table.as_bytes(), self.record, self.part.as_bytes()] {
            out[at..at + 8].copy_from_slice(&(field.len() as u64).to_le_bytes());
            at += 8;
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        debug_assert_eq!(at, out.len());
    }

    /// Runs `f` on the encoded associated data, without allocating in the common case.
    fn with_encoded<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let len = self.encoded_len();
        if len <= AAD_INLINE_LEN {
            let mut buf = [0u8; AAD_INLINE_LEN];
            self.encode_into(&mut buf[..len]);
            f(&buf[..len])
        } else {
            let mut buf = vec![0u8; len];
            self.encode_into(&mut buf);
            f(&buf)
        }
    }
}

/// The key that seals and opens stored values. Zeroized on drop (the cipher zeroizes its copy
/// of the key); `Debug` prints no bytes.
pub struct SealKey {
    /// Kept ready rather than rebuilt per value: building it is only a key copy, but keeping it
    /// means one copy of the key instead of one per call.
    cipher: XChaCha20Poly1305,
}

impl SealKey {
    /// A seal key from raw bytes; the moved-in bytes are zeroized once the cipher has them.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SealKey {
        let bytes = Zeroizing::new(bytes);
        SealKey::from_key_ref(&bytes)
    }

    /// A seal key from a buffer the caller zeroizes, so no extra copy is made.
    pub(crate) fn from_key_ref(bytes: &[u8; KEY_LEN]) -> SealKey {
        SealKey {
            cipher: XChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }

    /// Seals `plaintext` for the place `aad` names. See the module docs for the format.
    pub fn seal(&self, aad: Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
        self.seal_into(aad, plaintext, &mut out);
        out
    }

    /// Like [`seal`](Self::seal) but appends to `out`, so a bulk import can reuse one buffer
    /// for every value instead of allocating per value.
    pub fn seal_into(&self, aad: Aad<'_>, plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(SEAL_OVERHEAD + plaintext.len());
        let mut nonce = XNonce::default();
        // ThreadRng is a CSPRNG seeded and periodically reseeded from the OS; it avoids a
        // system call per value on the bulk-import path.
        rand::thread_rng().fill_bytes(&mut nonce);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let body = &mut out[start + HEADER_LEN..];
        let tag = aad
            .with_encoded(|aad| self.cipher.encrypt_in_place_detached(&nonce, aad, body))
            // The only failure is a plaintext over 256 GiB, which cannot be in memory here.
            .expect("XChaCha20-Poly1305 seals any in-memory plaintext");
        out.extend_from_slice(&tag);
    }

    /// Opens a value sealed for the place `aad` names.
    ///
    /// Errors: [`CryptoError::UnsupportedVersion`] when the first byte is not a version this
    /// build reads; [`CryptoError::Integrity`] for anything else that does not authenticate
    /// (wrong key, wrong place, altered or truncated bytes, empty input).
    pub fn open(&self, aad: Aad<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Integrity)?;
        if version != SEAL_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Integrity);
        }
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plaintext = ciphertext.to_vec();
        // The tag is verified before anything is decrypted, so on failure the buffer still
        // holds ciphertext only.
        aad.with_encoded(|aad| {
            self.cipher.decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                aad,
                &mut plaintext,
                Tag::from_slice(tag),
            )
        })
        .map_err(|_| CryptoError::Integrity)?;
        Ok(plaintext)
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AAD: Aad<'static> = Aad {
        table: "cases",
        record: b"0123456789abcdef",
        part: "payload",
    };

    fn key() -> SealKey {
        SealKey::from_bytes([0x42; 32])
    }

    #[test]
    fn round_trips_including_empty_and_large_values() {
        let k = key();
        for plaintext in [&b""[..], b"x", b"Zainab, born 1990", &[0xA5; 100_000]] {
            let sealed = k.seal(AAD, plaintext);
            assert_eq!(sealed.len(), plaintext.len() + SEAL_OVERHEAD);
            assert_eq!(sealed[0], SEAL_VERSION);
            assert_eq!(k.open(AAD, &sealed).unwrap(), plaintext);
        }
    }

    #[test]
    fn seal_into_appends_and_reuses_the_buffer() {
        let k = key();
        let mut buf = b"prefix".to_vec();
        k.seal_into(AAD, b"one", &mut buf);
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(k.open(AAD, &buf[6..]).unwrap(), b"one");
        buf.clear();
        k.seal_into(AAD, b"two", &mut buf);
        assert_eq!(k.open(AAD, &buf).unwrap(), b"two");
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let k = key();
        let a = k.seal(AAD, b"same");
        let b = k.seal(AAD, b"same");
        assert_ne!(a, b);
        assert_ne!(a[1..HEADER_LEN], b[1..HEADER_LEN], "nonces must differ");
    }

    #[test]
    fn flipping_any_bit_pattern_at_any_position_fails_cleanly() {
        let k = key();
        let sealed = k.seal(AAD, b"survivor statement");
        for at in 0..sealed.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut bad = sealed.clone();
                bad[at] ^= mask;
                let expected = if at == 0 {
                    CryptoError::UnsupportedVersion(SEAL_VERSION ^ mask)
                } else {
                    CryptoError::Integrity
                };
                assert_eq!(k.open(AAD, &bad), Err(expected), "byte {at} mask {mask:#x}");
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_fails() {
        let k = key();
        let sealed = k.seal(AAD, b"survivor statement");
        for len in 0..sealed.len() {
            assert_eq!(
                k.open(AAD, &sealed[..len]),
                Err(CryptoError::Integrity),
                "length {len}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(k.open(AAD, &longer), Err(CryptoError::Integrity));
    }

    #[test]
    fn a_value_moved_to_another_place_does_not_open() {
        let k = key();
        let sealed = k.seal(AAD, b"value");
        let elsewhere = [
            Aad {
                table: "referrals",
                ..AAD
            },
            Aad {
                record: b"0123456789abcdeF",
                ..AAD
            },
            Aad { record: b"", ..AAD },
            Aad {
                part: "notes",
                ..AAD
            },
            Aad { part: "", ..AAD },
        ];
        for aad in elsewhere {
            assert_eq!(k.open(aad, &sealed), Err(CryptoError::Integrity), "{aad:?}");
        }
    }

    #[test]
    fn aad_fields_cannot_be_shifted_into_each_other() {
        let k = key();
        let pairs = [
            (
                Aad {
                    table: "ab",
                    record: b"",
                    part: "c",
                },
                Aad {
                    table: "a",
                    record: b"",
                    part: "bc",
                },
            ),
            (
                Aad {
                    table: "ab",
                    record: b"c",
                    part: "",
                },
                Aad {
                    table: "a",
                    record: b"bc",
                    part: "",
                },
            ),
            (
                Aad {
                    table: "",
                    record: b"ab",
                    part: "c",
                },
                Aad {
                    table: "",
                    record: b"a",
                    part: "bc",
                },
            ),
            (
                Aad {
                    table: "a",
                    record: b"",
                    part: "",
                },
                Aad {
                    table: "",
                    record: b"",
                    part: "a",
                },
            ),
        ];
        for (a, b) in pairs {
            let sealed = k.seal(a, b"v");
            assert_eq!(
                k.open(b, &sealed),
                Err(CryptoError::Integrity),
                "{a:?} vs {b:?}"
            );
            assert_eq!(k.open(a, &sealed).unwrap(), b"v");
        }
    }

    #[test]
    fn long_aad_takes_the_heap_path_and_still_binds() {
        let k = key();
        let table = "t".repeat(AAD_INLINE_LEN);
        let aad = Aad {
            table: &table,
            ..AAD
        };
        assert!(aad.encoded_len() > AAD_INLINE_LEN);
        let sealed = k.seal(aad, b"v");
        assert_eq!(k.open(aad, &sealed).unwrap(), b"v");
        let shorter = &table[1..];
        assert_eq!(
            k.open(
                Aad {
                    table: shorter,
                    ..AAD
                },
                &sealed
            ),
            Err(CryptoError::Integrity)
        );
    }

    #[test]
    fn another_key_cannot_open() {
        let sealed = key().seal(AAD, b"v");
        assert_eq!(
            SealKey::from_bytes([0x43; 32]).open(AAD, &sealed),
            Err(CryptoError::Integrity)
        );
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        assert_eq!(format!("{:?}", key()), "SealKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let result = key().open(AAD, &bytes);
            prop_assert!(matches!(
                result,
                Err(CryptoError::Integrity) | Err(CryptoError::UnsupportedVersion(_))
            ));
        }

        #[test]
        fn round_trips_arbitrary_values_and_places(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            table in ".{0,20}",
            record in proptest::collection::vec(any::<u8>(), 0..40),
            part in ".{0,20}",
        ) {
            let k = key();
            let aad = Aad { table: &table, record: &record, part: &part };
            prop_assert_eq!(k.open(aad, &k.seal(aad, &plaintext)).unwrap(), plaintext);
        }
    }
}
