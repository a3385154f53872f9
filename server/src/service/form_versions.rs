//! Published form versions as the push reads them, to check answers and flag cases.
//!
//! A version is found by (agency, form id, version) — its record id is derived from them
//! ([`form_record_id`], or the legacy id of a version published before the server's
//! namespace) — and must be a form record owned by that agency: an agency's cases are
//! checked against its own versions only. Parsing a definition (expressions, `regex()`
//! patterns) is the costly part, and versions are immutable, so parsed definitions are kept
//! for the process, keyed by the SHA-256 of the definition's bytes: two stores in one process
//! (tests, a migration) can never be served each other's definition, and a cache that is
//! emptied costs only a parse.

use crate::storage::port::StoreTx;
use crate::storage::StorageError;
use fieldcase_core::forms::{FormDefinition, FormId};
use fieldcase_core::store::{
    form_record_id, legacy_form_record_id, FORM_DEFINITION_FIELD, FORM_ID_FIELD, FORM_VERSION_FIELD,
};
use fieldcase_core::{AgencyCode, RecordKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Most parsed definitions kept per process: far more than the versions a network uses at
/// once (a 500-question form parses to about a megabyte), and emptied when reached.
const MAX_PARSED_VERSIONS: usize = 128;

type Parsed = HashMap<[u8; 32], Arc<FormDefinition>>;

fn parsed_versions() -> &'static Mutex<Parsed> {
    static PARSED: OnceLock<Mutex<Parsed>> = OnceLock::new();
    PARSED.get_or_init(Default::default)
}

/// The version `id`@`version` published for `agency`, read in `tx`; `None` when it is not.
pub(crate) fn published(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
    id: &FormId,
    version: u32,
) -> Result<Option<Arc<FormDefinition>>, StorageError> {
    let candidates = [
        form_record_id(agency.as_str(), id, version),
        legacy_form_record_id(agency.as_str(), id, version),
    ];
    for candidate in candidates {
        let owned = tx
            .record(candidate)?
            .is_some_and(|r| r.kind == RecordKind::Form && r.owner_agency == *agency);
        if !owned {
            continue;
        }
        let Some(state) = tx.record_state(candidate)? else {
            continue;
        };
        let definition = state
            .values()
            .remove(FORM_DEFINITION_FIELD)
            .ok_or_else(|| StorageError::Integrity("a form record has no definition".into()))?;
        let form = parse(&definition)?;
        if form.id != *id || form.version != version {
            return Err(StorageError::Integrity(
                "a form record holds another version".into(),
            ));
        }
        return Ok(Some(form));
    }
    Ok(None)
}

/// Every version of form `id` published for `agency` (a rare read: only when a value breaks
/// a rule under the version its case names).
pub(crate) fn versions(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
    id: &FormId,
) -> Result<Vec<u32>, StorageError> {
    let mut out = Vec::new();
    for (record, _) in tx.records_of_kind(RecordKind::Form, Some(agency))? {
        let Some(state) = tx.record_state(record)? else {
            continue;
        };
        let values = state.values();
        if values.get(FORM_ID_FIELD).and_then(Value::as_str) != Some(id.as_str()) {
            continue;
        }
        if let Some(version) = values
            .get(FORM_VERSION_FIELD)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
        {
            out.push(version);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A stored definition, parsed once per process.
fn parse(definition: &Value) -> Result<Arc<FormDefinition>, StorageError> {
    let bytes = serde_json::to_vec(definition).expect("a JSON value always serializes");
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let cache = parsed_versions();
    if let Some(form) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&digest)
    {
        return Ok(Arc::clone(form));
    }
    let form = FormDefinition::from_value(definition)
        .map_err(|_| StorageError::Integrity("a stored form does not read".into()))?;
    let form = Arc::new(form);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= MAX_PARSED_VERSIONS {
        cache.clear();
    }
    cache.insert(digest, Arc::clone(&form));
    Ok(form)
}

/// The versions one push has looked up, so a batch of operations on cases of one form reads
/// and opens its record once.
#[derive(Default)]
pub(crate) struct PushForms(HashMap<(AgencyCode, FormId, u32), Option<Arc<FormDefinition>>>);

impl PushForms {
    /// [`published`], read once per push.
    pub fn get(
        &mut self,
        tx: &mut dyn StoreTx,
        agency: &AgencyCode,
        id: &FormId,
        version: u32,
    ) -> Result<Option<Arc<FormDefinition>>, StorageError> {
        let key = (agency.clone(), id.clone(), version);
        if let Some(found) = self.0.get(&key) {
            return Ok(found.clone());
        }
        let found = published(tx, agency, id, version)?;
        self.0.insert(key, found.clone());
        Ok(found)
    }
}
