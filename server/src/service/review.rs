//! Cases that need review: a case whose merged answers break a rule between fields of its
//! forms, kept for its agency's supervisors.
//!
//! The push refuses what a value breaks on its own ([`super::rules`]). Rules between fields —
//! `relevant` (an answer to a field that is not shown), `required`, constraints and choice
//! filters that read other fields, repeat counts — can be broken by merging two valid edits
//! made offline on two devices, and refusing either would lose someone's work. So after every
//! accepted operation on a case that names forms, the merged case is checked with core's
//! [`check_case`] (the device's own check) against the agency's published versions, and:
//!
//! - a case that breaks something is flagged: one row per case (`case_reviews`), with what it
//!   breaks as `[{"field", "reason"}]` — core's [`ReviewReason`], the format of a device's
//!   spreadsheet-import flags — naming fields and rules, never a value, sealed at rest;
//! - a flagged case that passes again (a later edit fixed it, on any device) loses its flag;
//! - the flag belongs to the case's owner: only that agency's admins list it
//!   ([`list`]); it is never sent to a device of another agency, nor to any device (a
//!   device's review list is its own, recomputed from the case as it is).
//!
//! Operations on cases that name no form (and do not just drop one) cost nothing here.

use super::form_versions::PushForms;
use super::rules::server_today;
use crate::storage::port::{CaseReview, StoreTx};
use crate::storage::{self, Storage, StorageError};
use fieldcase_core::forms::{check_case, form_refs, FormDefinition, FormId, FORM_KEY_PREFIX};
use fieldcase_core::model::Fields;
use fieldcase_core::store::ReviewReason;
use fieldcase_core::{AgencyCode, Operation, RecordId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a case breaks between fields of its forms, as stored and listed.
pub fn reasons(
    case: &Fields,
    forms: &BTreeMap<(FormId, u32), Arc<FormDefinition>>,
    now_ms: u64,
) -> Vec<ReviewReason> {
    let Some(today) = server_today(now_ms) else {
        return Vec::new();
    };
    let lookup = |id: &FormId, version: u32| forms.get(&(id.clone(), version)).map(|f| &**f);
    match check_case(case, &lookup, today) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| ReviewReason {
                field: e.field,
                reason: e.reason.to_string(),
            })
            .collect(),
    }
}

/// Flags, re-flags or clears `op`'s case after it merged into `after`, in the push's
/// transaction (see the module docs).
pub(super) fn refresh(
    tx: &mut dyn StoreTx,
    forms: &mut PushForms,
    op: &Operation,
    owner: &AgencyCode,
    after: &Fields,
    now_ms: u64,
) -> Result<(), StorageError> {
    let (named, _) = form_refs(after);
    let drops_a_form = op.fields.keys().any(|k| k.starts_with(FORM_KEY_PREFIX));
    if named.is_empty() && !drops_a_form {
        return Ok(());
    }
    let mut held = BTreeMap::new();
    for (id, version) in named {
        if let Some(form) = forms.get(tx, owner, &id, version)? {
            held.insert((id, version), form);
        }
    }
    let found = reasons(after, &held, now_ms);
    let existing = tx.case_review(op.record_id)?;
    if found.is_empty() {
        if existing.is_some() {
            tx.set_case_review(op.record_id, None)?;
        }
        return Ok(());
    }
    let reasons = serde_json::to_string(&found).expect("reasons serialize");
    if existing.as_ref().is_some_and(|e| e.reasons == reasons) {
        return Ok(());
    }
    let review = CaseReview {
        case_id: op.record_id,
        agency: owner.clone(),
        flagged_ms: existing.map_or(now_ms, |e| e.flagged_ms),
        reasons,
    };
    tx.set_case_review(op.record_id, Some(&review))
}

/// A flagged case, as its agency's admins see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlaggedCase {
    pub case_id: RecordId,
    pub flagged_ms: u64,
    pub reasons: Vec<ReviewReason>,
}

/// The flagged cases of `agency`, oldest flag first.
pub fn list(storage: &dyn Storage, agency: &AgencyCode) -> Result<Vec<FlaggedCase>, StorageError> {
    storage::read(storage, |tx| {
        tx.case_reviews(agency)?
            .into_iter()
            .map(|review| {
                let reasons = serde_json::from_str(&review.reasons).map_err(|_| {
                    StorageError::Integrity("a case's review reasons do not read".into())
                })?;
                Ok(FlaggedCase {
                    case_id: review.case_id,
                    flagged_ms: review.flagged_ms,
                    reasons,
                })
            })
            .collect()
    })
}
