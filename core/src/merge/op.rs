//! Operations: the unit of change that travels between devices and the server.
//!
//! One operation per record change, carrying every field that change touched — never one per
//! field, which would multiply outbox rows and wire overhead. Each changed field says which
//! earlier versions of that field the editor had seen ([`FieldChange::seen`]); that is what
//! lets the merge tell an edit made on top of another (no conflict) from a concurrent one
//! (the loser is kept as a conflict entry).

use crate::hlc::Hlc;
use crate::ids::{DeviceId, RecordId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The kinds of record the engine stores and syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Case,
    /// A service given; append-only.
    Service,
    /// A narrative note; append-only.
    Note,
    Referral,
    Form,
    /// What the device knows of an attachment before it holds the bytes (id, case, field,
    /// type, size, digest, label): written only by the server, when an upload completes.
    Attachment,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Case,
        RecordKind::Service,
        RecordKind::Note,
        RecordKind::Referral,
        RecordKind::Form,
        RecordKind::Attachment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Case => "case",
            RecordKind::Service => "service",
            RecordKind::Note => "note",
            RecordKind::Referral => "referral",
            RecordKind::Form => "form",
            RecordKind::Attachment => "attachment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Append-only records are written once and never edited.
    pub fn is_append_only(self) -> bool {
        matches!(self, RecordKind::Service | RecordKind::Note)
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `(device, sequence)`: unique across the whole network, assigned by the device in order
/// with no gaps, so the server can skip what it has seen and refuse what skips ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    #[serde(rename = "d")]
    pub device: DeviceId,
    #[serde(rename = "s")]
    pub seq: u64,
}

/// One field's new value in an operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The new value; JSON `null` clears the field.
    #[serde(rename = "v", deserialize_with = "crate::codec::bounded_value")]
    pub value: serde_json::Value,
    /// Versions of this field the editor had seen and knowingly replaced: the value shown
    /// when the edit began, plus any conflict entries a supervisor resolved with this edit.
    /// Empty for a field set for the first time.
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<Hlc>,
}

impl FieldChange {
    /// A new value written without replacing a version the editor saw: a field set for the
    /// first time, or a copy the server or a bundle makes of a value as it stands.
    pub fn fresh(value: serde_json::Value) -> FieldChange {
        FieldChange {
            value,
            seen: Vec::new(),
        }
    }
}

/// One change to one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub op_id: OpId,
    pub kind: RecordKind,
    pub record_id: RecordId,
    pub hlc: Hlc,
    /// Field key → change. Keys are core-variable keys (`given_name`, `consent.research`) or
    /// form answers (`answers.<field id>`).
    #[serde(deserialize_with = "crate::codec::bounded_fields")]
    pub fields: BTreeMap<String, FieldChange>,
}
