//! Compress, then seal: how payloads and record states are kept at rest by every backend.
//!
//! Sealed first, a value would not compress at all. [`seal_packed`] compresses the plaintext
//! (zstd, [`PACK_LEVEL`]) and seals the result under the caller's associated data;
//! [`open_packed`] opens and decompresses, bounded by [`MAX_UNPACKED_BYTES`] so a corrupted or
//! forged row can never make the server allocate without limit.
//!
//! **A dictionary.** One operation's JSON is a few hundred bytes, mostly field keys and code
//! values every case shares; on its own zstd finds little to reuse in so little (an
//! intake-sized payload of ~800 B packs to ~460 B). Compressed against a dictionary of
//! what field maps have in common (`dictionaries/fields-1.zdict`, 8 KiB, trained from
//! generated cases with everything a person typed replaced by random text: the schema, not
//! anyone's data; see `examples/train_fields_dictionary.rs`) it packs to ~130 B. Each frame
//! names its dictionary by id; a shipped dictionary never changes (a better one gets a new id
//! and both stay built in), so every value written opens in every later version.
//!
//! **Older rows open as they are**: frames without a dictionary id (written before the
//! dictionary) decompress without one, and rows written before compression hold sealed JSON —
//! the zstd magic number tells them apart (JSON never starts with byte 0x28).

use crate::seal::Sealer;
use std::cell::RefCell;
use std::sync::OnceLock;
use zeroize::Zeroizing;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// zstd level for values at rest: level 3 is zstd's default (fast, ~2× on case JSON); higher
/// levels gain a few percent on values this small for several times the CPU on every push.
pub const PACK_LEVEL: i32 = 3;

/// The largest plaintext a packed value may open to. A pushed operation is bounded far below
/// this by the push limits, and a record's merged state by its fields; 16 MiB is a ceiling
/// against corrupted rows, not a size anything legitimate approaches.
pub const MAX_UNPACKED_BYTES: usize = 16 * 1024 * 1024;

/// The zstd frame magic number, little-endian on the wire.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The dictionary field maps are compressed with (see the module docs). Never edit it.
const FIELDS_DICTIONARY: &[u8] = include_bytes!("dictionaries/fields-1.zdict");

/// [`FIELDS_DICTIONARY`]'s id, as its frames name it.
pub const FIELDS_DICTIONARY_ID: u32 = 2_032_217_460;

/// The dictionary digested for compression at [`PACK_LEVEL`], once per process.
fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static DIGESTED: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    DIGESTED.get_or_init(|| EncoderDictionary::copy(FIELDS_DICTIONARY, PACK_LEVEL))
}

/// The dictionary digested for decompression, once per process.
fn decoder_dictionary() -> &'static DecoderDictionary<'static> {
    static DIGESTED: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    DIGESTED.get_or_init(|| DecoderDictionary::copy(FIELDS_DICTIONARY))
}

thread_local! {
    // A compression context is a few hundred KiB of tables: one per thread, reused, instead
    // of one allocated per value.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(plaintext: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(compressor) => compressor,
            empty => empty.insert(new_compressor()),
        };
        compressor
            .compress(plaintext)
            .expect("compressing to memory cannot fail")
    })
}

fn new_compressor() -> Compressor<'static> {
    let mut compressor = Compressor::with_prepared_dictionary(encoder_dictionary())
        .expect("a compression context can be made");
    // The seal authenticates every byte: zstd's own checksum would add 4 bytes for nothing.
    compressor
        .include_checksum(false)
        .expect("a valid zstd parameter");
    compressor
}

fn decompress_with_dictionary(frame: &[u8], capacity: usize) -> Result<Vec<u8>, PackError> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match &mut *slot {
            Some(decompressor) => decompressor,
            empty => empty.insert(
                Decompressor::with_prepared_dictionary(decoder_dictionary())
                    .map_err(|_| PackError::Decompress)?,
            ),
        };
        decompressor
            .decompress(frame, capacity)
            .map_err(|_| PackError::Decompress)
    })
}

/// Why a packed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackError {
    #[error("does not open")]
    Seal,
    #[error("does not decompress within the size limit")]
    Decompress,
}

/// Compresses `plaintext` and seals it under `associated_data`.
pub fn seal_packed(sealer: &Sealer, associated_data: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let packed = Zeroizing::new(compress(plaintext));
    sealer.seal(associated_data, &packed)
}

/// Opens a value sealed by [`seal_packed`] (or sealed uncompressed by an older version).
pub fn open_packed(
    sealer: &Sealer,
    associated_data: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PackError> {
    let opened = Zeroizing::new(
        sealer
            .open(associated_data, sealed)
            .map_err(|_| PackError::Seal)?,
    );
    if !opened.starts_with(&ZSTD_MAGIC) {
        return Ok(opened);
    }
    // Allocate what the frame says it holds (every frame `seal_packed` writes records its
    // size), never more than the limit: allocating the limit itself for every value would
    // cost a 16 MiB mapping per operation read.
    let declared = zstd::zstd_safe::get_frame_content_size(&opened)
        .ok()
        .flatten()
        .ok_or(PackError::Decompress)?;
    let capacity = usize::try_from(declared)
        .ok()
        .filter(|n| *n <= MAX_UNPACKED_BYTES)
        .ok_or(PackError::Decompress)?;
    match zstd::zstd_safe::get_dict_id_from_frame(&opened).map(|id| id.get()) {
        None => zstd::bulk::decompress(&opened, capacity).map_err(|_| PackError::Decompress),
        Some(FIELDS_DICTIONARY_ID) => decompress_with_dictionary(&opened, capacity),
        // A dictionary this version does not have: not a value it wrote.
        Some(_) => Err(PackError::Decompress),
    }
    .map(Zeroizing::new)
}

/// An operation's fields, packed and sealed bound to its identity (device, sequence, record,
/// kind): the payload every backend stores in its log.
pub(crate) fn seal_op_fields(sealer: &Sealer, op: &fieldcase_core::Operation) -> Vec<u8> {
    let plaintext =
        Zeroizing::new(serde_json::to_vec(&op.fields).expect("operation fields always serialize"));
    let ad = crate::seal::op_payload_ad(op.op_id.device, op.op_id.seq, op.record_id, op.kind);
    seal_packed(sealer, &ad, &plaintext)
}

/// Opens a payload [`seal_op_fields`] sealed (or an older, uncompressed one); an integrity
/// error naming the log position when it does not open or is not a field map.
pub(crate) fn open_op_fields(
    sealer: &Sealer,
    op_id: fieldcase_core::OpId,
    record: fieldcase_core::RecordId,
    kind: fieldcase_core::RecordKind,
    payload: &[u8],
    position: Option<i64>,
) -> Result<crate::storage::port::FieldMap, crate::storage::StorageError> {
    let ad = crate::seal::op_payload_ad(op_id.device, op_id.seq, record, kind);
    let integrity = |what: &str| {
        let at = position
            .map(|p| format!(" at log position {p}"))
            .unwrap_or_default();
        crate::storage::StorageError::Integrity(format!("operation payload{at} {what}"))
    };
    let plaintext = open_packed(sealer, &ad, payload).map_err(|e| integrity(&e.to_string()))?;
    serde_json::from_slice(&plaintext).map_err(|_| integrity("is not a field map"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_key(&[7; 32])
    }

    #[test]
    fn packed_values_round_trip_and_old_sealed_json_still_opens() {
        let s = sealer();
        let json = br#"{"given_name":{"v":"Amina","s":[]},"sex":{"v":"female","s":[]}}"#;
        let packed = seal_packed(&s, b"ad", json);
        assert_eq!(&*open_packed(&s, b"ad", &packed).unwrap(), json);
        let old = s.seal(b"ad", json);
        assert_eq!(&*open_packed(&s, b"ad", &old).unwrap(), json);
        assert_eq!(open_packed(&s, b"other", &packed), Err(PackError::Seal));
    }

    #[test]
    fn values_packed_before_the_dictionary_still_open() {
        let s = sealer();
        let json = br#"{"given_name":{"v":"Amina","s":[]},"sex":{"v":"female","s":[]}}"#;
        let without_dictionary = s.seal(b"ad", &zstd::bulk::compress(json, PACK_LEVEL).unwrap());
        assert_eq!(&*open_packed(&s, b"ad", &without_dictionary).unwrap(), json);
    }

    #[test]
    fn the_dictionary_is_the_one_its_id_names_and_it_pays() {
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_dict(FIELDS_DICTIONARY).map(|id| id.get()),
            Some(FIELDS_DICTIONARY_ID),
            "a shipped dictionary never changes"
        );
        let s = sealer();
        let payload = serde_json::to_vec(&serde_json::json!({
            "sex": {"v": "female", "s": []},
            "nationality": {"v": "ETH", "s": []},
            "country_of_assistance": {"v": "UGA", "s": []},
            "categories": {"v": ["victim_of_trafficking"], "s": []},
            "programme": {"v": "protection", "s": []},
            "consent.assistance.given": {"v": true, "s": []},
            "status": {"v": "open", "s": []},
        }))
        .unwrap();
        let packed = seal_packed(&s, b"ad", &payload);
        assert_eq!(
            &*open_packed(&s, b"ad", &packed).unwrap(),
            payload.as_slice()
        );
        let frame = s.open(b"ad", &packed).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|id| id.get()),
            Some(FIELDS_DICTIONARY_ID)
        );
        let plain = zstd::bulk::compress(&payload, PACK_LEVEL).unwrap();
        assert!(
            frame.len() < plain.len(),
            "with the dictionary {} B, without {} B",
            frame.len(),
            plain.len()
        );
    }

    #[test]
    fn a_frame_naming_an_unknown_dictionary_does_not_open() {
        let s = sealer();
        let samples: Vec<Vec<u8>> = (0..2_000u32)
            .map(|i| {
                format!(r#"{{"household_{}":{{"v":{},"s":[]}}}}"#, i % 97, i * 7919).into_bytes()
            })
            .collect();
        let other = zstd::dict::from_samples(&samples, 2048).unwrap();
        let other_id = zstd::zstd_safe::get_dict_id_from_dict(&other).map(|id| id.get());
        assert!(other_id.is_some() && other_id != Some(FIELDS_DICTIONARY_ID));
        let frame = Compressor::with_dictionary(PACK_LEVEL, &other)
            .unwrap()
            .compress(&samples[1])
            .unwrap();
        let sealed = s.seal(b"ad", &frame);
        assert_eq!(open_packed(&s, b"ad", &sealed), Err(PackError::Decompress));
    }

    #[test]
    fn a_sealed_bomb_does_not_open_past_the_limit() {
        let s = sealer();
        let huge = vec![0u8; MAX_UNPACKED_BYTES + 1];
        let bomb = s.seal(b"ad", &zstd::bulk::compress(&huge, 19).unwrap());
        assert_eq!(open_packed(&s, b"ad", &bomb), Err(PackError::Decompress));
    }
}
