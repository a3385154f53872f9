//! Compress, then seal: how payloads and record states are kept at rest by every backend.
//!
//! JSON of case fields compresses to about half with zstd; sealed first, it would not compress
//! at all. [`seal_packed`] compresses the plaintext (zstd, [`PACK_LEVEL`]) and seals the
//! result under the caller's associated data; [`open_packed`] opens and decompresses, bounded
//! by [`MAX_UNPACKED_BYTES`] so a corrupted or forged row can never make the server allocate
//! without limit. Rows written before compression hold sealed JSON; the zstd magic number
//! tells the two apart (JSON never starts with byte 0x28), so old rows open as they are.

use crate::seal::Sealer;
use zeroize::Zeroizing;

/// zstd level for values at rest: level 3 is zstd's default (fast, ~2× on case JSON); higher
/// levels gain a few percent on values this small for several times the CPU on every push.
pub const PACK_LEVEL: i32 = 3;

/// The largest plaintext a packed value may open to. A pushed operation is bounded far below
/// this by the push limits, and a record's merged state by its fields; 16 MiB is a ceiling
/// against corrupted rows, not a size anything legitimate approaches.
pub const MAX_UNPACKED_BYTES: usize = 16 * 1024 * 1024;

/// The zstd frame magic number, little-endian on the wire.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

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
    let packed = Zeroizing::new(
        zstd::bulk::compress(plaintext, PACK_LEVEL).expect("compressing to memory cannot fail"),
    );
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
    zstd::bulk::decompress(&opened, capacity)
        .map(Zeroizing::new)
        .map_err(|_| PackError::Decompress)
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
    fn a_sealed_bomb_does_not_open_past_the_limit() {
        let s = sealer();
        let huge = vec![0u8; MAX_UNPACKED_BYTES + 1];
        let bomb = s.seal(b"ad", &zstd::bulk::compress(&huge, 19).unwrap());
        assert_eq!(open_packed(&s, b"ad", &bomb), Err(PackError::Decompress));
    }
}
