//! Published form versions in PostgreSQL: each version is a record of kind `form`, owned by the
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

use super::oplog::{append, insert_record};
use super::state::{load_state, merge_into_state, read_meta, server_clock, server_op_id};
use super::{agency_of, backend, col, record_id_of};
use crate::seal::Sealer;
use crate::storage::port::Audience;
use crate::storage::port::StoredRecord;
use crate::storage::{PublishedForm, StorageError};
use ::postgres::Transaction;
use fieldcase_core::forms::FormDefinition;
use fieldcase_core::store::{form_record_fields, form_record_id, FORM_DEFINITION_FIELD};
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordKind};

/// The `server_meta` key prefix of network-wide form versions.
const NETWORK_PREFIX: &str = "network_form/";

/// Publishes `form` for `agency` (see the trait).
pub(super) fn publish(
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<PublishedForm, StorageError> {
    if !super::directory::agency_exists(tx, agency)? {
        return Err(StorageError::NotFound("agency"));
    }
    let record_id = form_record_id(agency.as_str(), &form.id, form.version);
    let existing = tx
        .query_opt(
            "SELECT kind FROM records WHERE record_id = $1",
            &[&record_id.as_bytes().as_slice()],
        )
        .map_err(backend)?;
    if existing.is_some() {
        let state = load_state(tx, sealer, record_id)?
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
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    agency: Option<&AgencyCode>,
) -> Result<Vec<PublishedForm>, StorageError> {
    let rows = tx
        .query(
            "SELECT record_id, owner_agency FROM records
             WHERE kind = 'form' AND ($1::text IS NULL OR owner_agency = $1)",
            &[&agency.map(AgencyCode::as_str)],
        )
        .map_err(backend)?
        .iter()
        .map(|row| Ok((record_id_of(col(row, 0)?)?, agency_of(col(row, 1)?)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    let mut out = Vec::new();
    for (record, owner) in rows {
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
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    form: &FormDefinition,
    now_ms: u64,
) -> Result<Vec<PublishedForm>, StorageError> {
    let key = format!("{NETWORK_PREFIX}{}/{}", form.id, form.version);
    // serde_json writes object keys sorted, so equal definitions give equal bytes.
    let definition = serde_json::to_vec(&form.to_json()).expect("definitions serialize");
    let existing = read_meta(tx, &key)?;
    match existing {
        Some(stored) if stored != definition => {
            return Err(StorageError::AlreadyExists(
                "a different definition of this network form version",
            ))
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO server_meta (key, value) VALUES ($1, $2)",
                &[&key, &definition],
            )
            .map_err(backend)?;
        }
    }
    let agencies = tx
        .query("SELECT code FROM agencies ORDER BY code", &[])
        .map_err(backend)?
        .iter()
        .map(|row| agency_of(col(row, 0)?))
        .collect::<Result<Vec<_>, _>>()?;
    agencies
        .iter()
        .map(|agency| publish(&mut *tx, sealer, agency, form, now_ms))
        .collect()
}

/// Publishes every network-wide form version for `agency` (a new agency).
pub(super) fn deliver_network_forms(
    tx: &mut Transaction<'_>,
    sealer: &Sealer,
    agency: &AgencyCode,
    now_ms: u64,
) -> Result<(), StorageError> {
    // `COLLATE "C"`: byte order, as SQLite compares, whatever the database's collation.
    let stored = tx
        .query(
            "SELECT value FROM server_meta
             WHERE key COLLATE \"C\" >= $1 AND key COLLATE \"C\" < $2 ORDER BY key COLLATE \"C\"",
            &[&NETWORK_PREFIX, &"network_form0"],
        )
        .map_err(backend)?
        .iter()
        .map(|row| col::<Vec<u8>>(row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    for definition in stored {
        let form = FormDefinition::from_json(&definition)
            .map_err(|_| StorageError::Integrity("a network form does not read".into()))?;
        publish(tx, sealer, agency, &form, now_ms)?;
    }
    Ok(())
}
