//! How a duplicate decision is kept at rest by every backend: a keyed token of the ordered
//! pair as the row's key ([`pair_key`], so a later decision on the same pair replaces the
//! earlier one in SQL) and the decision, encoded compactly ([`encode`]), sealed under the
//! server key bound to that token (`seal::duplicate_decision_ad`). Without the key a copy of
//! the database shows how many decisions there are, nothing of which records they join.

use crate::seal::Sealer;
use crate::storage::DuplicateDecision;
use fieldcase_core::RecordId;
use zeroize::Zeroizing;

/// Domain of the pair tokens (`Sealer::match_token`): never equal to a name or block token.
const PAIR_DOMAIN: &str = "duplicate_pair";

/// Bytes of a decision's plaintext before the deciding user's id: two record ids, the
/// decision, the time.
const FIXED_BYTES: usize = 16 + 16 + 1 + 8;

/// The pair in stored order (`a < b` by bytes).
pub(crate) fn ordered(x: RecordId, y: RecordId) -> (RecordId, RecordId) {
    if x.as_bytes() < y.as_bytes() {
        (x, y)
    } else {
        (y, x)
    }
}

/// The key of a pair's row: a keyed token of the ordered pair.
pub(crate) fn pair_key(sealer: &Sealer, a: RecordId, b: RecordId) -> [u8; 16] {
    sealer.match_token(PAIR_DOMAIN, &format!("{a}~{b}"))
}

pub(crate) fn encode(d: &DuplicateDecision) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(FIXED_BYTES + d.decided_by.len()));
    out.extend_from_slice(d.record_a.as_bytes());
    out.extend_from_slice(d.record_b.as_bytes());
    out.push(u8::from(d.confirmed));
    out.extend_from_slice(&d.decided_at_ms.to_be_bytes());
    out.extend_from_slice(d.decided_by.as_bytes());
    out
}

pub(crate) fn decode(bytes: &[u8]) -> Option<DuplicateDecision> {
    if bytes.len() < FIXED_BYTES {
        return None;
    }
    let id = |range: std::ops::Range<usize>| -> Option<RecordId> {
        Some(RecordId::from_bytes(bytes[range].try_into().ok()?))
    };
    let confirmed = match bytes[32] {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(DuplicateDecision {
        record_a: id(0..16)?,
        record_b: id(16..32)?,
        confirmed,
        decided_at_ms: u64::from_be_bytes(bytes[33..41].try_into().ok()?),
        decided_by: String::from_utf8(bytes[FIXED_BYTES..].to_vec()).ok()?,
    })
}

/// A decision's row: the key of its pair and the decision sealed, bound to that key.
pub(crate) fn seal(sealer: &Sealer, d: &DuplicateDecision) -> ([u8; 16], Vec<u8>) {
    let (a, b) = ordered(d.record_a, d.record_b);
    let stored = DuplicateDecision {
        record_a: a,
        record_b: b,
        ..d.clone()
    };
    let key = pair_key(sealer, a, b);
    let sealed = sealer.seal(&crate::seal::duplicate_decision_ad(&key), &encode(&stored));
    (key, sealed)
}

/// Opens a decision's row; an integrity error when it does not open or decode.
pub(crate) fn open(
    sealer: &Sealer,
    key: &[u8],
    sealed: &[u8],
) -> Result<DuplicateDecision, crate::storage::StorageError> {
    let integrity = || {
        crate::storage::StorageError::Integrity("a sealed duplicate decision does not open".into())
    };
    let plain = Zeroizing::new(
        sealer
            .open(&crate::seal::duplicate_decision_ad(key), sealed)
            .map_err(|_| integrity())?,
    );
    decode(&plain).ok_or_else(integrity)
}

/// Decisions in the order they are listed: by time of decision, then pair.
pub(crate) fn sort(decisions: &mut [DuplicateDecision]) {
    decisions.sort_by(|x, y| {
        (
            x.decided_at_ms,
            x.record_a.as_bytes(),
            x.record_b.as_bytes(),
        )
            .cmp(&(
                y.decided_at_ms,
                y.record_a.as_bytes(),
                y.record_b.as_bytes(),
            ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::duplicate_decision_ad;

    #[test]
    fn decisions_round_trip_and_stay_bound_to_their_pair() {
        let sealer = Sealer::from_key(&[4; 32]);
        let (a, b) = ordered(RecordId::new(), RecordId::new());
        let d = DuplicateDecision {
            record_a: a,
            record_b: b,
            confirmed: true,
            decided_at_ms: 1_700_000_000_000,
            decided_by: "user-1".into(),
        };
        assert_eq!(decode(&encode(&d)), Some(d.clone()));
        let key = pair_key(&sealer, a, b);
        let sealed = sealer.seal(&duplicate_decision_ad(&key), &encode(&d));
        let other = pair_key(&sealer, a, RecordId::new());
        assert!(sealer
            .open(&duplicate_decision_ad(&other), &sealed)
            .is_err());
        assert_eq!(pair_key(&sealer, a, b), key, "a pair has one key");
        assert!(decode(&encode(&d)[..FIXED_BYTES - 1]).is_none());
    }
}
