//! Shared helpers for the store's integration tests: temporary stores with cheap key
//! derivation, and realistic cases.
#![allow(dead_code)]

use fieldcase_core::crypto::KdfParams;
use fieldcase_core::model::Case;
use fieldcase_core::store::{Durability, Identity, OpenOptions, Store};
use fieldcase_core::{AgencyCode, DeviceId};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn options() -> OpenOptions {
    OpenOptions {
        kdf: KdfParams::insecure_fast_for_tests(),
        durability: Durability::Full,
    }
}

pub fn identity(device: u8, agency: &str) -> Identity {
    Identity {
        device: DeviceId::from_bytes([device; 16]),
        agency: AgencyCode::parse(agency).unwrap(),
        user: format!("user-{device}"),
    }
}

pub fn store_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.db"))
}

pub fn new_store(dir: &Path, name: &str, device: u8) -> Store {
    Store::create(
        &store_path(dir, name),
        PASSPHRASE,
        None,
        identity(device, "iom_uga"),
        &options(),
    )
    .unwrap()
}

/// A complete, valid case in the nested import form.
pub fn case_json(given: &str, family: &str, phone: &str, document: &str) -> Value {
    json!({
        "given_name": given,
        "family_name": family,
        "date_of_birth": "1995-03",
        "sex": "female",
        "nationality": "UGA",
        "country_of_assistance": "KEN",
        "intake_date": "2026-10-01",
        "categories": ["victim_of_trafficking"],
        "programme": "direct_assistance",
        "exploitation_types": ["labour"],
        "labour_sectors": ["domestic_work"],
        "trafficking_type": "international",
        "country_of_destination": "KEN",
        "phone": phone,
        "document_numbers": [{"type": "passport", "number": document, "issuing_country": "UGA"}],
        "consent": {
            "assistance": {"given": true, "date": "2026-10-01", "recorded_by": "user-1"},
            "data_sharing": ["iom_ken"],
            "research": true
        },
        "status": "open",
        "risk_level": "medium",
        "answers": {"narrative": "Recruited for housework abroad; passport kept by the employer."}
    })
}

pub fn case(given: &str, family: &str, phone: &str, document: &str) -> Case {
    Case::from_json(&case_json(given, family, phone, document)).expect("sample case is valid")
}

/// Every file of a database: main, WAL and shared memory, concatenated.
pub fn database_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        if let Ok(content) = std::fs::read(&file) {
            bytes.extend(content);
        }
    }
    bytes
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An operation from the server itself (status keys, purge notices, corrections), as a sync
/// page carries it: written after everything a test made before it.
pub fn server_op(
    seq: u64,
    kind: fieldcase_core::RecordKind,
    record: fieldcase_core::RecordId,
    fields: Value,
) -> fieldcase_core::Operation {
    use fieldcase_core::protocol::SERVER_DEVICE_ID;
    fieldcase_core::Operation {
        op_id: fieldcase_core::OpId {
            device: SERVER_DEVICE_ID,
            seq,
        },
        kind,
        record_id: record,
        hlc: fieldcase_core::Hlc {
            wall_ms: fieldcase_core::hlc::now_ms() + seq,
            counter: 0,
            device: SERVER_DEVICE_ID,
        },
        fields: fields
            .as_object()
            .expect("fields as a JSON object")
            .iter()
            .map(|(k, v)| (k.clone(), fieldcase_core::FieldChange::fresh(v.clone())))
            .collect(),
    }
}
