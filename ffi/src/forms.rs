//! Form versions for the apps: which ones the store holds, a version's definition as JSON (the
//! format of `docs/forms.md`, for the app to render), and installing one shipped with the app.
//! Answers are recorded through [`crate::CaseData`]'s `answers_json` and `forms_json`; core
//! checks them against the versions named. A field of a repeat group is answered per
//! instance, under `<repeat id>.<instance key>.<field id>` in `answers_json`, with a key from
//! [`new_repeat_instance_key`].

use crate::error::{FieldcaseError, Result};
use crate::store::{lock, FieldcaseStore};
use fieldcase_core::forms::{FormDefinition, FormId};
use fieldcase_core::model::InstanceKey;
use std::collections::HashMap;

/// A form version the store holds.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FormInfo {
    pub id: String,
    pub version: u32,
    /// Title by language code.
    pub title: HashMap<String, String>,
    pub default_language: String,
    pub field_count: u32,
    /// Installed on this device rather than received by sync.
    pub local: bool,
}

/// A key for a new instance of a repeat group (a household member being added): its answers
/// go in `answers_json` as `<repeat id>.<key>.<field id>`. Keys sort in the order they were
/// made, and two devices never make the same one, so members added on two devices at once
/// are both kept. Removing an instance is clearing its answers.
#[uniffi::export]
pub fn new_repeat_instance_key() -> String {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    InstanceKey::generate(now_ms).to_string()
}

fn form_id(id: &str) -> Result<FormId> {
    FormId::parse(id).map_err(|_| FieldcaseError::invalid_field("form_id", "not a form id"))
}

#[uniffi::export]
impl FieldcaseStore {
    /// The form versions held, by id then version.
    pub fn list_forms(&self) -> Result<Vec<FormInfo>> {
        let forms = lock(&self.store).forms()?;
        Ok(forms
            .into_iter()
            .map(|f| FormInfo {
                id: f.id.to_string(),
                version: f.version,
                title: f.title.into_iter().collect(),
                default_language: f.default_language,
                field_count: u32::try_from(f.fields).unwrap_or(u32::MAX),
                local: f.local,
            })
            .collect())
    }

    /// A form version's definition as JSON; the newest held when `version` is absent; `None`
    /// when not held.
    pub fn form_definition_json(&self, id: String, version: Option<u32>) -> Result<Option<String>> {
        let id = form_id(&id)?;
        let store = lock(&self.store);
        let form = match version {
            Some(v) => store.form(&id, v)?,
            None => store.latest_form(&id)?,
        };
        Ok(form.map(|f| f.to_json().to_string()))
    }

    /// Installs a form version from its JSON definition on this device only (a form shipped
    /// with the app); published forms arrive by sync.
    pub fn install_form_json(&self, definition_json: String) -> Result<()> {
        let form = FormDefinition::from_json(definition_json.as_bytes())
            .map_err(fieldcase_core::store::StoreError::from)?;
        lock(&self.store).install_form(&form)?;
        Ok(())
    }
}
