//! Compact encoding of a record's merge state for sealing.
//!
//! A record's fields usually share one or two versions (a case imported or created in one
//! operation has one), so versions are written once in a table and fields point into it.
//! That keeps a ~1.2 KB case near its own size instead of doubling it with per-field clocks.

use crate::hlc::Hlc;
use crate::merge::op::RecordKind;
use crate::merge::{Conflict, FieldState, RecordState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The stored form, written from borrowed state (no copy of the values on the write path).
#[derive(Serialize)]
struct StoredRef<'a> {
    k: RecordKind,
    h: Vec<Hlc>,
    f: BTreeMap<&'a str, (&'a Value, u32)>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    s: &'a BTreeMap<String, BTreeSet<Hlc>>,
    #[serde(skip_serializing_if = "<[Conflict]>::is_empty")]
    c: &'a [Conflict],
}

#[derive(Deserialize)]
struct Stored {
    k: RecordKind,
    /// Distinct versions referenced below.
    h: Vec<Hlc>,
    /// field → (value, index into `h`)
    f: BTreeMap<String, (Value, u32)>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    s: BTreeMap<String, BTreeSet<Hlc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    c: Vec<Conflict>,
}

pub fn encode(state: &RecordState) -> Vec<u8> {
    let mut versions: Vec<Hlc> = Vec::new();
    let mut fields = BTreeMap::new();
    for (key, field) in &state.fields {
        let index = match versions.iter().position(|h| *h == field.hlc) {
            Some(index) => index,
            None => {
                versions.push(field.hlc);
                versions.len() - 1
            }
        };
        fields.insert(key.as_str(), (&field.value, index as u32));
    }
    let stored = StoredRef {
        k: state.kind,
        h: versions,
        f: fields,
        s: &state.seen,
        c: &state.conflicts,
    };
    serde_json::to_vec(&stored).expect("record states always serialize")
}

/// `None` when the bytes are not a record state (only possible if sealed data was written by
/// a different build; sealing already rules out tampering).
pub fn decode(bytes: &[u8]) -> Option<RecordState> {
    let stored: Stored = serde_json::from_slice(bytes).ok()?;
    let mut fields = BTreeMap::new();
    for (key, (value, index)) in stored.f {
        let hlc = *stored.h.get(index as usize)?;
        fields.insert(key, FieldState { value, hlc });
    }
    Some(RecordState {
        kind: stored.k,
        fields,
        seen: stored.s,
        conflicts: stored.c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeviceId;

    #[test]
    fn states_round_trip() {
        let h1 = Hlc {
            wall_ms: 1,
            counter: 0,
            device: DeviceId::from_bytes([1; 16]),
        };
        let h2 = Hlc {
            wall_ms: 2,
            counter: 3,
            device: DeviceId::from_bytes([2; 16]),
        };
        let mut state = RecordState::new(RecordKind::Case);
        state.fields.insert(
            "sex".into(),
            FieldState {
                value: "female".into(),
                hlc: h1,
            },
        );
        state.fields.insert(
            "programme".into(),
            FieldState {
                value: "avrr".into(),
                hlc: h2,
            },
        );
        state.fields.insert(
            "phone".into(),
            FieldState {
                value: Value::Null,
                hlc: h1,
            },
        );
        state.seen.insert("sex".into(), [h1].into());
        state.conflicts.push(Conflict {
            field: "sex".into(),
            value: "male".into(),
            hlc: h2,
        });
        assert_eq!(decode(&encode(&state)).unwrap(), state);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode(b"{}").is_none());
        assert!(decode(b"\xff\x00").is_none());
    }
}
