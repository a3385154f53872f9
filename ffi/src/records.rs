//! The smaller records that cross the boundary: services, notes, conflicts, search queries,
//! the store's status and identity. Each converts from core's type and holds nothing core
//! does not; `Debug` of anything holding personal data shows nothing of it.

use crate::codes::{CaseStatus, RecordKind, ServiceType, Sex};
use crate::error::{FieldcaseError, Result};
use fieldcase_core::model::{note, service, Fields};
use fieldcase_core::store::{
    CaseSummary as CoreCaseSummary, ChildRecord, ConflictEntry, Identity, MatchKind, SearchHit,
    SearchQuery as CoreSearchQuery, StoreStatus as CoreStoreStatus,
};
use serde_json::Value;

/// Who writes through a store: set at enrollment, readable even while locked.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeviceIdentity {
    /// The id the server gave this device; an administrator revokes a device by it.
    pub device_id: String,
    pub agency: String,
    pub user_id: String,
}

impl From<&Identity> for DeviceIdentity {
    fn from(identity: &Identity) -> Self {
        DeviceIdentity {
            device_id: identity.device.to_string(),
            agency: identity.agency.as_str().to_owned(),
            user_id: identity.user.clone(),
        }
    }
}

/// A service given to the person of a case. Services are append-only.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ServiceData {
    pub case_id: String,
    pub service_type: ServiceType,
    /// `YYYY-MM-DD`, not in the future.
    pub date: String,
    /// The agency code of the provider (often, not always, this device's agency).
    pub provider_agency: String,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

/// A stored service.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ServiceRecord {
    pub id: String,
    pub created_ms: i64,
    pub data: ServiceData,
}

/// A stored narrative note. Notes are append-only.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct NoteRecord {
    pub id: String,
    pub case_id: String,
    pub created_ms: i64,
    pub text: String,
    /// `YYYY-MM-DD`.
    pub written_on: String,
    /// The author's user id.
    pub author: String,
}

/// What to search for. Names match across case, diacritics, scripts and common
/// transliterations ("Mohammed" finds "Muhammad"); phones and document numbers ignore spacing.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
#[uniffi::export(Debug)]
pub enum SearchQuery {
    /// Every word must match a name of the case. Unless the text ends with a space, its last
    /// word of three letters or more may also be the start of a name (search as you type).
    Name {
        text: String,
    },
    Phone {
        number: String,
    },
    Document {
        number: String,
    },
}

/// What a case list or search result shows of a case, read without unsealing the case.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CaseSummary {
    pub id: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub other_names: Vec<String>,
    /// `None` when absent, or when the stored value is not a code this build knows.
    pub sex: Option<Sex>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, as recorded.
    pub date_of_birth: Option<String>,
    /// ISO 3166-1 alpha-3.
    pub nationality: Option<String>,
    /// `YYYY-MM-DD`.
    pub intake_date: Option<String>,
    /// `None` only when the stored value is not a status this build knows.
    pub status: Option<CaseStatus>,
    pub owner_agency: String,
}

/// How a search result matched; results come best match first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SearchMatch {
    /// Every word spelled as in the case (ignoring case, accents and script), or the phone or
    /// document number itself.
    Exact,
    /// Every word alike after transliteration folding ("Muhammad" for "Mohammed").
    Alike,
    /// The last word is the start of one of the case's names.
    Prefix,
}

/// One search result.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct CaseSearchResult {
    pub summary: CaseSummary,
    pub matched: SearchMatch,
}

impl From<CoreCaseSummary> for CaseSummary {
    fn from(summary: CoreCaseSummary) -> Self {
        CaseSummary {
            id: summary.id.to_string(),
            sex: summary.sex.as_deref().and_then(Sex::parse),
            status: CaseStatus::parse(&summary.status),
            given_name: summary.given_name,
            family_name: summary.family_name,
            other_names: summary.other_names,
            date_of_birth: summary.date_of_birth,
            nationality: summary.nationality,
            intake_date: summary.intake_date,
            owner_agency: summary.owner_agency,
        }
    }
}

impl From<SearchHit> for CaseSearchResult {
    fn from(hit: SearchHit) -> Self {
        CaseSearchResult {
            summary: hit.summary.into(),
            matched: match hit.matched {
                MatchKind::Exact => SearchMatch::Exact,
                MatchKind::Phonetic => SearchMatch::Alike,
                MatchKind::Prefix => SearchMatch::Prefix,
            },
        }
    }
}

/// A value that lost a concurrent edit, next to the value in place now.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Conflict {
    pub record_id: String,
    pub kind: RecordKind,
    pub field: String,
    /// The losing value, as JSON.
    pub losing_value_json: String,
    /// The value in place now, as JSON; `None` when the field is cleared.
    pub current_value_json: Option<String>,
    /// Names this conflict when resolving it; opaque.
    pub version: String,
}

/// Pending work, conflicts and the last sync: what a sync badge shows.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct StoreStatus {
    /// Changes made here and not yet acknowledged by the server.
    pub pending_changes: u64,
    /// Changes the server refused, kept for a person to review.
    pub rejected_changes: u64,
    pub conflicts: u64,
    pub cases: u64,
    /// When the last successful sync finished (ms since the Unix epoch).
    pub last_sync_ms: Option<i64>,
    /// Why the last sync failed, in plain language, if it did.
    pub last_error: Option<String>,
    /// Nothing waiting to be sent and the last sync succeeded.
    pub synced: bool,
}

redacted_debug!(
    ServiceData,
    ServiceRecord,
    NoteRecord,
    SearchQuery,
    CaseSummary,
    CaseSearchResult,
    Conflict
);

impl From<CoreStoreStatus> for StoreStatus {
    fn from(status: CoreStoreStatus) -> Self {
        StoreStatus {
            pending_changes: status.pending_ops,
            rejected_changes: status.rejected_ops,
            conflicts: status.conflicts,
            cases: status.cases,
            last_sync_ms: status.last_sync_ms,
            last_error: status.last_error,
            synced: status.synced,
        }
    }
}

impl From<SearchQuery> for CoreSearchQuery {
    fn from(query: SearchQuery) -> Self {
        match query {
            SearchQuery::Name { text } => CoreSearchQuery::Name(text),
            SearchQuery::Phone { number } => CoreSearchQuery::Phone(number),
            SearchQuery::Document { number } => CoreSearchQuery::Document(number),
        }
    }
}

impl From<ConflictEntry> for Conflict {
    fn from(entry: ConflictEntry) -> Self {
        Conflict {
            record_id: entry.record_id.to_string(),
            kind: entry.kind,
            field: entry.field,
            losing_value_json: entry.value.to_string(),
            current_value_json: entry.current.map(|v| v.to_string()),
            version: version_token(&entry.version),
        }
    }
}

/// A conflict's version as an opaque token, and back.
fn version_token(version: &fieldcase_core::Hlc) -> String {
    serde_json::to_value(version)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

pub(crate) fn parse_version(token: &str) -> Result<fieldcase_core::Hlc> {
    serde_json::from_str(token).map_err(|_| FieldcaseError::NotFound {
        reason: "no conflict entry matches that field and version".into(),
    })
}

impl ServiceData {
    /// Core's field map, for core to validate.
    pub(crate) fn to_fields(&self) -> Fields {
        let mut fields = Fields::new();
        fields.insert(service::CASE_ID.into(), Value::from(self.case_id.as_str()));
        fields.insert(
            service::SERVICE_TYPE.into(),
            Value::from(self.service_type.as_str()),
        );
        fields.insert(service::DATE.into(), Value::from(self.date.as_str()));
        fields.insert(
            service::PROVIDER_AGENCY.into(),
            Value::from(self.provider_agency.as_str()),
        );
        if let Some(notes) = &self.notes {
            fields.insert(service::NOTES.into(), Value::from(notes.as_str()));
        }
        fields
    }
}

fn stored_text(fields: &Fields, key: &str) -> Option<String> {
    fields.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A stored child record that does not read: its id (not personal data) and nothing else.
fn unreadable(child: &ChildRecord) -> FieldcaseError {
    FieldcaseError::Integrity {
        reason: format!("the stored {} {} could not be read", child.kind, child.id),
    }
}

impl ServiceRecord {
    /// Reads a stored service without re-judging it: it was valid where it was recorded, and
    /// a date that looks future here may come from a device with a fast clock.
    pub(crate) fn from_core(child: ChildRecord) -> Result<ServiceRecord> {
        let fields = &child.fields;
        let service_type = stored_text(fields, service::SERVICE_TYPE)
            .and_then(|code| ServiceType::parse(&code))
            .ok_or_else(|| unreadable(&child))?;
        Ok(ServiceRecord {
            id: child.id.to_string(),
            created_ms: child.created_ms,
            data: ServiceData {
                case_id: child.case_id.to_string(),
                service_type,
                date: stored_text(fields, service::DATE).unwrap_or_default(),
                provider_agency: stored_text(fields, service::PROVIDER_AGENCY).unwrap_or_default(),
                notes: stored_text(fields, service::NOTES),
            },
        })
    }
}

impl NoteRecord {
    pub(crate) fn from_core(child: ChildRecord) -> NoteRecord {
        let fields = &child.fields;
        NoteRecord {
            id: child.id.to_string(),
            case_id: child.case_id.to_string(),
            created_ms: child.created_ms,
            text: stored_text(fields, note::TEXT).unwrap_or_default(),
            written_on: stored_text(fields, note::WRITTEN_ON).unwrap_or_default(),
            author: stored_text(fields, note::AUTHOR).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_token_round_trips() {
        let hlc = fieldcase_core::Hlc {
            wall_ms: 1_700_000_000_000,
            counter: 3,
            device: fieldcase_core::DeviceId::from_bytes([7; 16]),
        };
        assert_eq!(parse_version(&version_token(&hlc)).unwrap(), hlc);
        assert!(matches!(
            parse_version("nonsense"),
            Err(FieldcaseError::NotFound { .. })
        ));
    }
}
