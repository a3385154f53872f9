//! Form versions on the device, and the check of a case's answers against them.
//!
//! Forms are records of kind `form`, sealed like every other record. They arrive by sync (the
//! server writes them when an admin publishes a version; see `docs/forms.md`) or are installed
//! locally ([`Store::install_form`], for forms shipped with an app); either way they never
//! enter the outbox. A form record holds `form_id`, `version` and `definition`, and every
//! version is kept: a case is checked against, and shown with, the version it names.
//!
//! Local case writes load the versions a case names first ([`Store::forms_named`]), then check
//! the merged case with them ([`FormSet::check_change`]): the merged case must satisfy the form
//! versions it names (`forms.<id>`), reporting only problems the write adds, like the case
//! model's own rules ([`super::cases::validate_case_change`]).

use super::error::{Result, StoreError};
use super::records::StoredRecord;
use super::Store;
use crate::forms::{check_case, form_refs, FormDefinition, FormId};
use crate::hlc::now_ms;
use crate::ids::RecordId;
use crate::merge::op::{FieldChange, OpId, Operation, RecordKind};
use crate::merge::plan;
use crate::model::{Date, Fields, ValidationErrors};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The fields of a form record.
pub const FORM_ID_FIELD: &str = "form_id";
pub const FORM_VERSION_FIELD: &str = "version";
pub const FORM_DEFINITION_FIELD: &str = "definition";

/// The owner recorded for a form installed on this device rather than received by sync.
const LOCAL_OWNER: &str = "local";

/// A form version held on the device, without its definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormSummary {
    pub id: FormId,
    pub version: u32,
    pub title: BTreeMap<String, String>,
    pub default_language: String,
    pub fields: usize,
    /// Installed on this device rather than received from the server.
    pub local: bool,
}

/// The record id of a form version published by `publisher` (an agency code, or `local`):
/// derived, so publishing or installing the same version twice writes the same record. It
/// is in the server's namespace ([`RecordId::server_authored`]): anyone can compute it, so a
/// device must not be able to take it before the form is published.
pub fn form_record_id(publisher: &str, id: &FormId, version: u32) -> RecordId {
    RecordId::server_authored(form_digest(publisher, id, version))
}

/// The id [`form_record_id`] gave before form ids moved to the server's namespace (a UUIDv8
/// of the RFC variant, which devices can also make). Versions published before then keep it;
/// the server looks it up too, so re-publishing such a version is still recognised.
pub fn legacy_form_record_id(publisher: &str, id: &FormId, version: u32) -> RecordId {
    let mut bytes = form_digest(publisher, id, version);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    RecordId::from_bytes(bytes)
}

fn form_digest(publisher: &str, id: &FormId, version: u32) -> [u8; 16] {
    let digest = Sha256::digest(format!("fieldcase form\0{publisher}\0{id}\0{version}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes
}

/// The fields a form record carries.
pub fn form_record_fields(form: &FormDefinition) -> Fields {
    [
        (FORM_ID_FIELD.to_owned(), Value::from(form.id.as_str())),
        (FORM_VERSION_FIELD.to_owned(), Value::from(form.version)),
        (FORM_DEFINITION_FIELD.to_owned(), form.to_json()),
    ]
    .into()
}

/// One form record's id, version and (unparsed) definition.
struct Held {
    id: FormId,
    version: u32,
    local: bool,
    definition: Value,
}

impl Held {
    fn read(record: StoredRecord) -> Option<Held> {
        let mut values = record.state.values();
        let id = FormId::parse(values.get(FORM_ID_FIELD)?.as_str()?).ok()?;
        let version = u32::try_from(values.get(FORM_VERSION_FIELD)?.as_u64()?).ok()?;
        Some(Held {
            id,
            version,
            local: record.owner_agency == LOCAL_OWNER,
            definition: values.remove(FORM_DEFINITION_FIELD)?,
        })
    }

    fn parse(&self) -> Result<FormDefinition> {
        let form = FormDefinition::from_value(&self.definition)?;
        if form.id != self.id || form.version != self.version {
            return Err(StoreError::Integrity {
                table: "records",
                record: format!("form {}@{}", self.id, self.version),
            });
        }
        Ok(form)
    }
}

impl Store {
    fn held_forms(&self) -> Result<Vec<Held>> {
        let records =
            self.load_selected("SELECT id FROM records WHERE kind = 'form' ORDER BY id", [])?;
        // A record that does not read as a form (a server older or newer than this app) is
        // passed over rather than failing every case write.
        let mut held: Vec<Held> = records.into_iter().filter_map(Held::read).collect();
        // The server's copy of a version comes before a local one.
        held.sort_by(|a, b| (&a.id, a.version, a.local).cmp(&(&b.id, b.version, b.local)));
        Ok(held)
    }

    /// The form versions held on this device, by id then version.
    pub fn forms(&self) -> Result<Vec<FormSummary>> {
        let mut out: Vec<FormSummary> = Vec::new();
        for held in self.held_forms()? {
            if out
                .last()
                .is_some_and(|s| s.id == held.id && s.version == held.version)
            {
                continue;
            }
            let form = held.parse()?;
            out.push(FormSummary {
                fields: form.fields().count(),
                id: form.id,
                version: form.version,
                title: form.title,
                default_language: form.default_language,
                local: held.local,
            });
        }
        Ok(out)
    }

    /// One form version, if held.
    pub fn form(&self, id: &FormId, version: u32) -> Result<Option<FormDefinition>> {
        self.held_forms()?
            .into_iter()
            .find(|h| h.id == *id && h.version == version)
            .map(|h| h.parse())
            .transpose()
    }

    /// The newest version held of a form.
    pub fn latest_form(&self, id: &FormId) -> Result<Option<FormDefinition>> {
        self.held_forms()?
            .into_iter()
            .filter(|h| h.id == *id)
            .max_by_key(|h| h.version)
            .map(|h| h.parse())
            .transpose()
    }

    /// Installs a form version on this device only (a form shipped with the app). Installing
    /// the same version again changes nothing; a different definition under a version already
    /// held is refused ([`StoreError::FormVersionConflict`]): versions are immutable.
    pub fn install_form(&mut self, form: &FormDefinition) -> Result<()> {
        form.check()?;
        if let Some(existing) = self.form(&form.id, form.version)? {
            return if existing == *form {
                Ok(())
            } else {
                Err(StoreError::FormVersionConflict {
                    id: form.id.to_string(),
                    version: form.version,
                })
            };
        }
        let mut counters = self.counters();
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let record_id = form_record_id(LOCAL_OWNER, &form.id, form.version);
        let hlc = counters.clock.tick(now_ms());
        let op = Operation {
            // Never in the outbox, so never sent: the id only has to be well formed.
            op_id: OpId {
                device: self.identity.device,
                seq: 0,
            },
            kind: RecordKind::Form,
            record_id,
            hlc,
            fields: form_record_fields(form)
                .into_iter()
                .map(|(k, value)| (k, FieldChange::fresh(value)))
                .collect(),
        };
        let merged = plan(&BTreeMap::new(), std::slice::from_ref(&op));
        let tx = self.conn.transaction()?;
        for (id, outcome) in &merged.records {
            Self::write_record(&tx, keys, id, None, LOCAL_OWNER, None, &outcome.after)?;
        }
        Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
        tx.commit()?;
        self.commit_counters(counters);
        Ok(())
    }

    /// The form versions that `before` (a case's current fields, if any) and `changes` name,
    /// loaded before a write so the write's validator can check the merged case without the
    /// store.
    pub(crate) fn forms_named(&self, before: Option<&Fields>, changes: &Fields) -> Result<FormSet> {
        let mut set = FormSet::default();
        let mut wanted: std::collections::BTreeSet<(FormId, u32)> =
            form_refs(changes).0.into_iter().collect();
        if let Some(before) = before {
            wanted.extend(form_refs(before).0);
        }
        if wanted.is_empty() {
            return Ok(set);
        }
        for held in self.held_forms()? {
            let key = (held.id.clone(), held.version);
            if wanted.contains(&key) && !set.0.contains_key(&key) {
                set.0.insert(key, held.parse()?);
            }
        }
        Ok(set)
    }
}

/// Form versions loaded for one write.
#[derive(Default)]
pub(crate) struct FormSet(BTreeMap<(FormId, u32), FormDefinition>);

impl FormSet {
    /// Checks `after` (a case's merged fields) against the form versions it names, reporting
    /// only problems that `before` did not already have.
    pub(crate) fn check_change(&self, before: Option<&Fields>, after: &Fields) -> Result<()> {
        let lookup = |id: &FormId, version: u32| self.0.get(&(id.clone(), version));
        let today = Date::today();
        let Err(after_errors) = check_case(after, &lookup, today) else {
            return Ok(());
        };
        let before_errors = before
            .and_then(|b| check_case(b, &lookup, today).err())
            .map(|e| e.0)
            .unwrap_or_default();
        let new: Vec<_> = after_errors
            .0
            .into_iter()
            .filter(|e| !before_errors.contains(e))
            .collect();
        if new.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(ValidationErrors(new)))
        }
    }
}
