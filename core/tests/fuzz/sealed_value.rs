//! The sealed-value envelope (`crypto::SealKey::open`) and the store's key envelope
//! (`crypto::KeyEnvelope::from_bytes`): arbitrary bytes never open and never panic, and a real
//! seal changed in any byte, or cut short, or opened for another place, is refused.

use crate::tape::Tape;
use bolero::check;
use fieldcase_core::crypto::{Aad, CryptoError, KeyEnvelope, SealKey};

const KEY: [u8; 32] = [0x5a; 32];

fn aad(record: &[u8]) -> Aad<'_> {
    Aad {
        table: "records",
        record,
        part: "fields",
    }
}

#[test]
fn sealed_value_arbitrary_bytes() {
    let key = SealKey::from_bytes(KEY);
    check!().for_each(|bytes: &[u8]| match key.open(aad(b"r1"), bytes) {
        Err(CryptoError::Integrity | CryptoError::UnsupportedVersion(_)) => {}
        other => panic!("forged bytes gave {other:?}"),
    });
}

#[test]
fn sealed_value_altered_seal() {
    let key = SealKey::from_bytes(KEY);
    check!().for_each(|bytes: &[u8]| {
        let mut tape = Tape::new(bytes);
        let plaintext = tape.bytes(64).to_vec();
        let record = tape.bytes(20).to_vec();
        let sealed = key.seal(aad(&record), &plaintext);
        assert_eq!(key.open(aad(&record), &sealed).unwrap(), plaintext);

        let mut altered = sealed.clone();
        match tape.below(3) {
            0 => {
                let at = tape.below(altered.len());
                altered[at] ^= tape.byte().max(1);
            }
            1 => altered.truncate(tape.below(altered.len())),
            _ => {
                let other_record = [record.as_slice(), b"x"].concat();
                assert!(key.open(aad(&other_record), &sealed).is_err());
                return;
            }
        }
        assert!(key.open(aad(&record), &altered).is_err());
    });
}

#[test]
fn key_envelope_arbitrary_bytes() {
    check!().for_each(|bytes: &[u8]| {
        // Parsing reads every field it keeps: what parses writes back byte for byte.
        if let Ok(envelope) = KeyEnvelope::from_bytes(bytes) {
            assert_eq!(envelope.to_bytes(), bytes);
        }
    });
}
