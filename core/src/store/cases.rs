//! The case-facing API: record, update, read and list cases, and add services and notes.
//!
//! Local writes are validated against the case model before anything is written; the merged
//! result of a local edit must be a valid case, and its answers must satisfy the form versions
//! it names (`forms.rs`). Records that arrive from other devices are
//! stored as merged even when incomplete, because refusing them would lose someone's work.

use super::error::{Result, StoreError};
use super::records::StoredRecord;
use super::Store;
use crate::ids::RecordId;
use crate::merge::op::{Operation, RecordKind};
use crate::merge::Conflict;
use crate::model::{Case, Fields, Note, Service};
use serde_json::Value;

/// A case as the app shows it.
#[derive(Clone, PartialEq)]
pub struct CaseRecord {
    pub id: RecordId,
    pub owner_agency: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Present values, by flat field key (see [`crate::model`]).
    pub fields: Fields,
    /// Values that lost a concurrent edit, for a supervisor to review.
    pub conflicts: Vec<Conflict>,
}

impl std::fmt::Debug for CaseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Field values are personal data; only their keys are shown.
        f.debug_struct("CaseRecord")
            .field("id", &self.id)
            .field("owner_agency", &self.owner_agency)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("conflicts", &self.conflicts.len())
            .finish()
    }
}

impl CaseRecord {
    /// The typed case, when the merged fields form a valid one.
    pub fn case(&self) -> std::result::Result<Case, crate::model::ValidationErrors> {
        Case::from_fields(&self.fields)
    }

    pub fn status(&self) -> &str {
        self.fields
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("open")
    }

    fn from_stored(record: StoredRecord) -> Self {
        CaseRecord {
            id: record.id,
            owner_agency: record.owner_agency,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
            fields: record.state.values(),
            conflicts: record.state.conflicts,
        }
    }
}

/// A service or note of a case.
#[derive(Clone, PartialEq)]
pub struct ChildRecord {
    pub id: RecordId,
    pub kind: RecordKind,
    pub case_id: RecordId,
    pub created_ms: i64,
    pub fields: Fields,
}

impl std::fmt::Debug for ChildRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("case_id", &self.case_id)
            .finish_non_exhaustive()
    }
}

fn validate_case(fields: &Fields) -> Result<()> {
    Case::from_fields(fields)
        .map(drop)
        .map_err(StoreError::from)
}

/// An edit may not introduce a problem, but it need not fix every old one: concurrent edits
/// merged from other devices can leave a case breaking a rule between fields (say, closed
/// without a closure reason), and a caseworker adding a phone number must not be blocked by
/// it. Problems the case already had are reported by [`CaseRecord::case`], not here.
pub(crate) fn validate_case_change(before: &Fields, after: &Fields) -> Result<()> {
    let Err(after_errors) = Case::from_fields(after) else {
        return Ok(());
    };
    let before_errors = Case::from_fields(before)
        .err()
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
        Err(StoreError::Invalid(crate::model::ValidationErrors(new)))
    }
}

impl Store {
    /// Records a new case; returns its id.
    pub fn create_case(&mut self, case: &Case) -> Result<RecordId> {
        self.create_case_fields(case.to_fields())
    }

    /// Records a new case from flat fields, validated first.
    pub fn create_case_fields(&mut self, fields: Fields) -> Result<RecordId> {
        validate_case(&fields)?;
        let forms = self.forms_named(None, &fields)?;
        forms.check_change(None, &fields)?;
        let id = RecordId::new();
        let validate = |after: &Fields| {
            validate_case(after)?;
            forms.check_change(None, after)
        };
        self.save_local_change(RecordKind::Case, id, None, fields, None, &validate)?;
        Ok(id)
    }

    /// Changes some fields of a case (`null` clears a field). The merged case must be valid;
    /// an edit that changes nothing writes nothing. Returns the operation written, if any.
    ///
    /// A case of another agency (one referred to this agency, or one this agency transferred
    /// away) is refused with [`StoreError::NotOwner`]. A case this agency received by transfer
    /// holds only the fields that were shared; an edit is refused only for a problem it adds
    /// ([`validate_case_change`]), not for rules whose inputs were never shared.
    pub fn update_case(&mut self, id: &RecordId, changes: Fields) -> Result<Option<Operation>> {
        let before = self.require_owned_case(id)?.state.values();
        let forms = self.forms_named(Some(&before), &changes)?;
        let validate = |after: &Fields| {
            validate_case_change(&before, after)?;
            forms.check_change(Some(&before), after)
        };
        let op = self.save_local_change(RecordKind::Case, *id, None, changes, None, &validate)?;
        // A case imported for review leaves the list once an edit makes it pass every rule.
        self.clear_review_if_passes(id)?;
        Ok(op)
    }

    /// Loads a case this device's agency owns, or fails (`NoSuchRecord`, `NotOwner`).
    pub(crate) fn require_owned_case(&self, id: &RecordId) -> Result<StoredRecord> {
        let record = self.require(RecordKind::Case, id)?;
        if record.owner_agency != self.identity.agency.as_str() {
            return Err(StoreError::NotOwner { id: *id });
        }
        Ok(record)
    }

    pub fn get_case(&self, id: &RecordId) -> Result<CaseRecord> {
        Ok(CaseRecord::from_stored(self.require(RecordKind::Case, id)?))
    }

    /// Cases, most recently changed first, optionally with one status.
    pub fn list_cases(
        &self,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<CaseRecord>> {
        let records = self.load_selected(
            "SELECT id FROM records WHERE kind = 'case' AND (?1 IS NULL OR status = ?1)
             ORDER BY updated_ms DESC, id DESC LIMIT ?2 OFFSET ?3",
            rusqlite::params![status, limit as i64, offset as i64],
        )?;
        Ok(records.into_iter().map(CaseRecord::from_stored).collect())
    }

    /// Number of cases, optionally with one status.
    pub fn count_cases(&self, status: Option<&str>) -> Result<u64> {
        self.ensure_not_wiped()?;
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM records WHERE kind = 'case' AND (?1 IS NULL OR status = ?1)",
            [status],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Records a service given to a case. Services are append-only. The case must be this
    /// agency's, or referred to it and accepted ([`StoreError::NotReferred`]).
    pub fn add_service(&mut self, service: &Service) -> Result<RecordId> {
        self.add_child(RecordKind::Service, service.to_fields(), &|f| {
            Service::from_fields(f).map(drop).map_err(StoreError::from)
        })
    }

    /// Adds a narrative note to a case. Notes are append-only.
    pub fn add_note(&mut self, note: &Note) -> Result<RecordId> {
        self.add_child(RecordKind::Note, note.to_fields(), &|f| {
            Note::from_fields(f).map(drop).map_err(StoreError::from)
        })
    }

    /// Services or notes of a case, oldest first.
    pub fn children_of(&self, case_id: &RecordId, kind: RecordKind) -> Result<Vec<ChildRecord>> {
        let records = self.load_selected(
            "SELECT id FROM records WHERE case_id = ?1 AND kind = ?2 ORDER BY created_ms, id",
            rusqlite::params![&case_id.as_bytes()[..], kind.as_str()],
        )?;
        Ok(records
            .into_iter()
            .map(|record| ChildRecord {
                id: record.id,
                kind,
                case_id: *case_id,
                created_ms: record.created_ms,
                fields: record.state.values(),
            })
            .collect())
    }

    fn add_child(
        &mut self,
        kind: RecordKind,
        fields: Fields,
        validate: &dyn Fn(&Fields) -> Result<()>,
    ) -> Result<RecordId> {
        validate(&fields)?;
        let case_id = fields
            .get("case_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<RecordId>().ok())
            .ok_or(StoreError::MissingCaseLink { kind })?;
        let case = self.require(RecordKind::Case, &case_id)?;
        // Services and notes go on a case this agency owns, or on one referred to it that it
        // accepted; the server applies the same rule.
        if case.owner_agency != self.identity.agency.as_str()
            && !self.accepted_referral_to_me(&case_id)?
        {
            return Err(StoreError::NotReferred { id: case_id });
        }
        let id = RecordId::new();
        self.save_local_change(kind, id, Some(case_id), fields, None, validate)?;
        Ok(id)
    }

    /// Loads a record of the given kind or fails with `NoSuchRecord`.
    pub(crate) fn require(&self, kind: RecordKind, id: &RecordId) -> Result<StoredRecord> {
        let keys = self.keys()?;
        match Self::load_record(&self.conn, keys, id)? {
            Some(record) if record.state.kind == kind => Ok(record),
            _ => Err(StoreError::NoSuchRecord { kind, id: *id }),
        }
    }
}
