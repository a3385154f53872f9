//! STUB — replaced by the model work. The case model: core variables, validation, services, notes.
use std::collections::BTreeMap;

/// A record as a flat map of field key → JSON value (the form merge works on).
pub type Fields = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<ValidationError>);

#[derive(Debug, Clone, PartialEq)]
pub struct Case {}

impl Case {
    pub fn from_fields(_fields: &Fields) -> Result<Case, ValidationErrors> {
        todo!()
    }
    pub fn to_fields(&self) -> Fields {
        todo!()
    }
    pub fn from_json(_value: &serde_json::Value) -> Result<Case, ValidationErrors> {
        todo!()
    }
    pub fn to_json(&self) -> serde_json::Value {
        todo!()
    }
    pub fn search_names(&self) -> Vec<&str> {
        todo!()
    }
    pub fn search_phones(&self) -> Vec<&str> {
        todo!()
    }
    pub fn search_documents(&self) -> Vec<&str> {
        todo!()
    }
    pub fn status_code(&self) -> &'static str {
        todo!()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {}

impl Service {
    pub fn from_fields(_fields: &Fields) -> Result<Service, ValidationErrors> {
        todo!()
    }
    pub fn to_fields(&self) -> Fields {
        todo!()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {}

impl Note {
    pub fn from_fields(_fields: &Fields) -> Result<Note, ValidationErrors> {
        todo!()
    }
    pub fn to_fields(&self) -> Fields {
        todo!()
    }
}
