//! Published form versions in SQLite: each version is a record of kind `form`, owned by the
//! agency it was published for, written by the server as its own operation and addressed to
//! that agency, so every device of the agency pulls it like any other record (see
//! [`crate::storage::Storage::publish_form`]).
//!
//! No table of its own: the record's id is derived from (agency, form id, version)
//! ([`form_record_id`]), which makes "is this version published?" a primary-key lookup and
//! re-publishing the same content a no-op. A network-wide version ([`publish_network`]) is
//! published for every agency and remembered in `server_meta` (`network_form/<id>/<version>`
//! → the definition), so an agency created later receives it too ([`deliver_network_forms`],
//! in the transaction that creates the agency).

use super::oplog::insert_record;
use super::state::{
    append, load_state, merge_into_state, record_col, server_clock, server_op_id, Audience,
};
use super::{agency_col, backend};
use crate::seal::Sealer;
use crate::storage::port::StoredRecord;
use crate::storage::{PublishedForm, StorageError};
use fieldcase_core::forms::FormDefinition;
use fieldcase_core::store::{
    form_record_fields, form_record_id, legacy_form_record_id, FORM_DEFINITION_FIELD,
};
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordKind};
use rusqlite::{params, OptionalExtension, Transaction};

/// The `server_meta` key prefix of network-wide form versions.
const NETWORK_PREFIX: &str = "network_form/";

/// Publishes `form` for `agency` (see the trait).
pub(super) fn publish(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<PublishedForm, StorageError> {
    if !super::directory::agency_exists(tx, agency)? {
        return Err(StorageError::NotFound("agency"));
    }
    let record_id = form_record_id(agency.as_str(), &form.id, form.version);
    // A version published before form ids moved to the server's namespace sits under its
    // legacy id: it is the same version, so it is looked up too.
    let legacy_id = legacy_form_record_id(agency.as_str(), &form.id, form.version);
    for candidate in [record_id, legacy_id] {
        let existing: Option<String> = tx
            .query_row(
                "SELECT kind FROM records WHERE record_id = ?1",
                [candidate.as_bytes()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        if existing.as_deref() != Some(RecordKind::Form.as_str()) {
            // Not a form (a device's record under a legacy id): not this version.
            continue;
        }
        let state = load_state(tx, sealer, candidate)?
            .ok_or_else(|| StorageError::Integrity("a form record has no operations".into()))?;
        let same = state.values().get(FORM_DEFINITION_FIELD) == Some(&form.to_json());
        return if same {
            Ok(summary(agency.clone(), form, false))
        } else {
            Err(StorageError::AlreadyExists(
                "a different definition of this form version",
            ))
        };
    }
    let op = Operation {
        op_id: server_op_id(tx)?,
        kind: RecordKind::Form,
        record_id,
        hlc: server_clock(tx, now_ms)?,
        fields: form_record_fields(form)
            .into_iter()
            .map(|(k, value)| {
                (
                    k,
                    FieldChange {
                        value,
                        seen: vec![],
                    },
                )
            })
            .collect(),
    };
    insert_record(
        tx,
        &op,
        &StoredRecord {
            kind: RecordKind::Form,
            owner_agency: agency.clone(),
            case_id: None,
        },
    )?;
    merge_into_state(tx, sealer, &op)?;
    let audience: [Audience; 1] = [(agency.clone(), None)];
    append(tx, sealer, &op, agency, &audience)?;
    Ok(summary(agency.clone(), form, true))
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

/// The published versions, of one agency or of all, by agency, id and version.
pub(super) fn list(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    agency: Option<&AgencyCode>,
) -> Result<Vec<PublishedForm>, StorageError> {
    let mut statement = tx
        .prepare(
            "SELECT record_id, owner_agency FROM records
             WHERE kind = 'form' AND (?1 IS NULL OR owner_agency = ?1)",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map([agency.map(AgencyCode::as_str)], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, agency_col(row.get(1)?)?))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let mut out = Vec::new();
    for (record, owner) in rows {
        let record = record_col(record)?;
        let Some(state) = load_state(tx, sealer, record)? else {
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
}

/// Publishes `form` for every agency, now and later (see the module docs). Fails as a whole
/// (`AlreadyExists`) when the network, or any agency, holds a different definition under
/// this version.
pub(super) fn publish_network(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<Vec<PublishedForm>, StorageError> {
    let key = format!("{NETWORK_PREFIX}{}/{}", form.id, form.version);
    // serde_json writes object keys sorted, so equal definitions give equal bytes.
    let definition = serde_json::to_vec(&form.to_json()).expect("definitions serialize");
    let existing: Option<Vec<u8>> = tx
        .query_row(
            "SELECT value FROM server_meta WHERE key = ?1",
            [&key],
            |row| row.get(0),
        )
        .optional()
        .map_err(backend)?;
    match existing {
        Some(stored) if stored != definition => {
            return Err(StorageError::AlreadyExists(
                "a different definition of this network form version",
            ))
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES (?1, ?2)",
                params![key, definition],
            )
            .map_err(backend)?;
        }
    }
    let agencies = tx
        .prepare("SELECT code FROM agencies ORDER BY code")
        .map_err(backend)?
        .query_map([], |row| agency_col(row.get(0)?))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    agencies
        .iter()
        .map(|agency| publish(tx, sealer, agency, form, now_ms))
        .collect()
}

/// Publishes every network-wide form version for `agency` (a new agency).
pub(super) fn deliver_network_forms(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
    now_ms: u64,
) -> Result<(), StorageError> {
    let stored = tx
        .prepare("SELECT value FROM server_meta WHERE key >= ?1 AND key < ?2 ORDER BY key")
        .map_err(backend)?
        .query_map(params![NETWORK_PREFIX, "network_form0"], |row| {
            row.get::<_, Vec<u8>>(0)
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    for definition in stored {
        let form = FormDefinition::from_json(&definition)
            .map_err(|_| StorageError::Integrity("a network form does not read".into()))?;
        publish(tx, sealer, agency, &form, now_ms)?;
    }
    Ok(())
}
