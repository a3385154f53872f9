//! Publishing form versions: the rules of which version an agency receives, written once for
//! every backend.
//!
//! A version is a record of kind `form`, owned by the agency it was published for, written by
//! the server as its own operation and addressed to that agency alone, so every device of the
//! agency pulls it like any other record. Its id is derived from (agency, form id, version)
//! ([`form_record_id`]), which makes "is this version published?" one lookup.
//!
//! The rules:
//! - versions are immutable: publishing the same definition again changes nothing, a different
//!   definition under a published version is refused (`AlreadyExists`);
//! - a version published before form ids moved to the server's namespace sits under its
//!   legacy id ([`legacy_form_record_id`]) and is the same version;
//! - a network-wide version is published for every agency now and remembered as a server
//!   setting ([`NETWORK_PREFIX`]), so an agency created later receives it in the transaction
//!   that creates it ([`create_agency`]).

use super::push::merge_into_state;
use crate::storage::port::{Audience, StoreTx, StoredRecord};
use crate::storage::{self, Agency, PublishedForm, Storage, StorageError};
use fieldcase_core::forms::FormDefinition;
use fieldcase_core::store::{
    form_record_fields, form_record_id, legacy_form_record_id, FORM_DEFINITION_FIELD,
};
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordKind};

/// The server-setting key prefix of network-wide form versions:
/// `network_form/<form id>/<version>` → the definition's JSON.
pub const NETWORK_PREFIX: &str = "network_form/";

/// Publishes `form` for `agency` in one transaction (see the module docs).
pub fn publish(
    storage: &dyn Storage,
    agency: &AgencyCode,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<PublishedForm, StorageError> {
    storage::write(storage, |tx| publish_in(tx, agency, form, now_ms))
}

/// Publishes `form` for every agency, now and later, in one transaction. Fails as a whole
/// (`AlreadyExists`) when the network, or any agency, holds a different definition under
/// this version.
pub fn publish_network(
    storage: &dyn Storage,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<Vec<PublishedForm>, StorageError> {
    storage::write(storage, |tx| {
        let key = network_key(form);
        let definition = definition_bytes(form);
        match tx.setting(&key)? {
            Some(stored) if stored != definition => {
                return Err(StorageError::AlreadyExists(
                    "a different definition of this network form version",
                ))
            }
            Some(_) => {}
            None => tx.insert_setting(&key, &definition)?,
        }
        tx.agency_codes()?
            .iter()
            .map(|agency| publish_in(tx, agency, form, now_ms))
            .collect()
    })
}

/// Creates an agency and, in the same transaction, publishes every network-wide form version
/// for it, so it never exists without the forms the whole network uses.
pub fn create_agency(
    storage: &dyn Storage,
    code: &AgencyCode,
    name: &str,
    now_ms: u64,
) -> Result<Agency, StorageError> {
    storage::write(storage, |tx| {
        let agency = tx.insert_agency(code, name, now_ms)?;
        for (_, definition) in tx.settings_with_prefix(NETWORK_PREFIX)? {
            let form = FormDefinition::from_json(&definition)
                .map_err(|_| StorageError::Integrity("a network form does not read".into()))?;
            publish_in(tx, code, &form, now_ms)?;
        }
        Ok(agency)
    })
}

/// The published versions, of one agency or of all, by agency, id and version.
pub fn list(
    storage: &dyn Storage,
    agency: Option<&AgencyCode>,
) -> Result<Vec<PublishedForm>, StorageError> {
    storage::read(storage, |tx| {
        let mut out = Vec::new();
        for (record, owner) in tx.records_of_kind(RecordKind::Form, agency)? {
            let Some(state) = tx.record_state(record)? else {
                continue;
            };
            let definition = state
                .values()
                .remove(FORM_DEFINITION_FIELD)
                .ok_or_else(|| StorageError::Integrity("a form record has no definition".into()))?;
            let form = FormDefinition::from_value(&definition)
                .map_err(|_| StorageError::Integrity("a stored form does not read".into()))?;
            out.push(summary(owner, &form, false));
        }
        out.sort_by(|a, b| (&a.agency, &a.id, a.version).cmp(&(&b.agency, &b.id, b.version)));
        Ok(out)
    })
}

/// Publishes `form` for `agency` inside an open transaction.
fn publish_in(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<PublishedForm, StorageError> {
    if !tx.agency_exists(agency)? {
        return Err(StorageError::NotFound("agency"));
    }
    let record_id = form_record_id(agency.as_str(), &form.id, form.version);
    let legacy_id = legacy_form_record_id(agency.as_str(), &form.id, form.version);
    for candidate in [record_id, legacy_id] {
        let is_form = tx
            .record(candidate)?
            .is_some_and(|record| record.kind == RecordKind::Form);
        if !is_form {
            // Nothing there, or a device's record under a legacy id: not this version.
            continue;
        }
        let state = tx
            .record_state(candidate)?
            .ok_or_else(|| StorageError::Integrity("a form record has no operations".into()))?;
        return if state.values().get(FORM_DEFINITION_FIELD) == Some(&form.to_json()) {
            Ok(summary(agency.clone(), form, false))
        } else {
            Err(StorageError::AlreadyExists(
                "a different definition of this form version",
            ))
        };
    }
    let op = Operation {
        op_id: tx.server_op_id()?,
        kind: RecordKind::Form,
        record_id,
        hlc: tx.server_clock(now_ms)?,
        fields: form_record_fields(form)
            .into_iter()
            .map(|(key, value)| {
                let change = FieldChange::fresh(value);
                (key, change)
            })
            .collect(),
    };
    tx.insert_record(
        &op,
        &StoredRecord {
            kind: RecordKind::Form,
            owner_agency: agency.clone(),
            case_id: None,
        },
    )?;
    merge_into_state(tx, &op)?;
    let audience: [Audience; 1] = [(agency.clone(), None)];
    tx.append(&op, agency, &audience)?;
    Ok(summary(agency.clone(), form, true))
}

fn network_key(form: &FormDefinition) -> String {
    format!("{NETWORK_PREFIX}{}/{}", form.id, form.version)
}

/// The definition's canonical bytes: serde_json writes object keys sorted, so equal
/// definitions give equal bytes.
fn definition_bytes(form: &FormDefinition) -> Vec<u8> {
    serde_json::to_vec(&form.to_json()).expect("a JSON value always serializes")
}

fn summary(agency: AgencyCode, form: &FormDefinition, created: bool) -> PublishedForm {
    PublishedForm {
        agency,
        id: form.id.to_string(),
        version: form.version,
        title: form.title.clone(),
        fields: form.fields().count(),
        created,
    }
}
