//! The case model: the core variables of a case, services given and narrative notes, with
//! their validation.
//!
//! A record travels as [`Fields`], a flat map of field key → JSON value, because one key is one
//! unit of last-writer-wins merge; imports and the HTTP API use the nested JSON form
//! ([`Case::from_json`], [`flatten_json`], [`nest_fields`]). Reading fields checks every value
//! and every rule between fields and reports all faults at once, each naming the field and a
//! [`Reason`] but never the value, which may be a survivor's name typed in the wrong box. The
//! `Debug` output of anything holding identity data or free text redacts it. This layer does no
//! I/O: the store seals what it holds, and search folding lives in [`crate::normalize`].
//!
//! - [`codes`]: the closed code sets, [`country`]: ISO 3166-1 alpha-3, [`date`]: full and
//!   partial dates.
//! - [`case`]: the case itself; [`case_rules`]: the rules between its fields; [`keys`]: its flat
//!   keys; [`consent`], [`document`], [`answers`]: its composite parts; [`json`]: the nested form.
//! - [`service`], [`note`]: the append-only records linked to a case.
//! - [`validate`]: the error types; [`read`]: per-value checks and their bounds.

use std::collections::BTreeMap;
use std::fmt;

pub mod answers;
pub mod case;
pub mod case_rules;
pub mod codes;
pub mod consent;
pub mod country;
pub mod date;
pub mod document;
pub mod json;
pub mod keys;
pub mod near_keys;
pub mod note;
pub mod read;
pub mod service;
pub mod validate;

#[cfg(test)]
mod proptests;

pub use answers::{AnswerPath, FieldId, InstanceKey, MAX_ANSWERS, MAX_ANSWER_BYTES};
pub use case::Case;
pub use codes::{
    Category, ClosureReason, Code, DocumentType, ExploitationType, LabourSector, Programme,
    ReintegrationAssistance, RiskLevel, ServiceType, Sex, Status, TraffickingType,
};
pub use consent::{AssistanceConsent, Consent, DataSharing};
pub use country::{is_iso3, Country, COUNTRY_CODES};
pub use date::{AgeRange, Date, DateError, PartialDate};
pub use document::Document;
pub use json::{flatten_json, nest_fields};
pub use note::Note;
pub use service::Service;
pub use validate::{Reason, ValidationError, ValidationErrors};

/// A record as a flat map of field key → JSON value (the form merge works on). A JSON `null`
/// for a key means the field is absent.
pub type Fields = BTreeMap<String, serde_json::Value>;

/// Stands in for a value `Debug` must not show.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `<redacted>` for a present value, `None` for an absent one: `Debug` tells presence only.
pub(crate) fn redacted<T>(value: &Option<T>) -> &'static dyn fmt::Debug {
    match value {
        Some(_) => &Redacted,
        None => &None::<()>,
    }
}

/// `<n redacted>` for a list: `Debug` tells how many, nothing else.
struct RedactedItems(usize);

impl fmt::Debug for RedactedItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} redacted>", self.0)
    }
}
