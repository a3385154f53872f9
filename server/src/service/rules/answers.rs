//! A pushed case operation's answers against the form versions its case names: the rules a
//! value breaks on its own refuse the operation, as on the device.
//!
//! The forms are those of the resulting case: for each `forms.<id>`, the operation's own value
//! where it writes one, else the case's current one. Each `answers.*` value the operation
//! writes (and each core variable a form field records) goes through core's
//! [`check_answer_alone`] — the same engine and the same errors a device's validation gives:
//! a field of none of those forms, a value of the wrong type, a code not in its list, a
//! constraint reading only `.` that the value breaks. The refusal names fields and rules,
//! never values. A form version the operation names that is not published for the agency is
//! refused too ([`Reason::FormNotPublished`]); one the case named already (before the server
//! checked forms) is not, and its fields are not called unknown.
//!
//! Nothing written offline in good faith is refused: a value that breaks a rule under the
//! version the case names now but holds under another published version of that form —
//! answered on a device that had not yet seen the case move to a new version — is kept
//! (the case is then flagged for review, see [`crate::service::review`]). Rules between fields
//! are never checked here, for the same reason.
//!
//! An operation that writes neither `answers.*` nor `forms.*` costs no form lookup.

use super::RecordLookup;
use fieldcase_core::forms::{check_answer_alone, FormDefinition, FormId, FORM_KEY_PREFIX};
use fieldcase_core::model::answers::ANSWER_KEY_PREFIX;
use fieldcase_core::model::{Date, Reason, ValidationError, ValidationErrors};
use fieldcase_core::protocol::RejectReason;
use fieldcase_core::{AgencyCode, Operation, RecordKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why `op`'s answers are refused under the forms of the case it results in, if they are.
/// `existing` says whether the case exists (its current forms count).
pub(super) fn refuse_answers<L: RecordLookup>(
    agency: &AgencyCode,
    op: &Operation,
    existing: bool,
    today: Date,
    lookup: &mut L,
) -> Result<Option<RejectReason>, L::Error> {
    let writes_answers = op
        .fields
        .keys()
        .any(|k| k.starts_with(ANSWER_KEY_PREFIX) || k.starts_with(FORM_KEY_PREFIX));
    if op.kind != RecordKind::Case || !writes_answers {
        return Ok(None);
    }
    let moved = moved_forms(op);
    let mut named = if existing {
        lookup.case_forms(op.record_id)?
    } else {
        BTreeMap::new()
    };
    for (id, version) in &moved {
        match version {
            Some(version) => named.insert(id.clone(), *version),
            None => named.remove(id),
        };
    }
    let mut errors = Vec::new();
    let mut forms: Vec<(FormId, Arc<FormDefinition>)> = Vec::new();
    let mut all_held = true;
    for (id, version) in &named {
        match lookup.form(agency, id, *version)? {
            Some(form) => forms.push((id.clone(), form)),
            None if moved.contains_key(id) => errors.push(ValidationError::new(
                format!("{FORM_KEY_PREFIX}{id}"),
                Reason::FormNotPublished,
            )),
            // Named before the server checked forms: the review flag says so.
            None => all_held = false,
        }
    }
    if !errors.is_empty() {
        return Ok(Some(invalid(errors)));
    }
    let today_forms: Vec<&FormDefinition> = forms.iter().map(|(_, f)| &**f).collect();
    for (key, change) in &op.fields {
        let Err(error) = check_answer_alone(&today_forms, all_held, key, &change.value, today)
        else {
            continue;
        };
        if !holds_under_another_version(agency, &forms, &moved, all_held, op, key, today, lookup)? {
            errors.push(error);
        }
    }
    Ok((!errors.is_empty()).then(|| invalid(errors)))
}

/// The forms `op` moves the case to (`Some(version)`) or takes it off (`None`).
fn moved_forms(op: &Operation) -> BTreeMap<FormId, Option<u32>> {
    op.fields
        .range(FORM_KEY_PREFIX.to_owned()..)
        .map_while(|(key, change)| Some((key.strip_prefix(FORM_KEY_PREFIX)?, change)))
        // The case model has checked both already (malformed ones were refused).
        .filter_map(|(id, change)| {
            let id = FormId::parse(id).ok()?;
            let version = change.value.as_u64().and_then(|v| u32::try_from(v).ok());
            Some((id, version))
        })
        .collect()
}

/// Whether `key`'s value passes with one form the case names (and `op` does not move) taken
/// at another published version: a value written offline before the case moved.
#[allow(clippy::too_many_arguments)]
fn holds_under_another_version<L: RecordLookup>(
    agency: &AgencyCode,
    forms: &[(FormId, Arc<FormDefinition>)],
    moved: &BTreeMap<FormId, Option<u32>>,
    all_held: bool,
    op: &Operation,
    key: &str,
    today: Date,
    lookup: &mut L,
) -> Result<bool, L::Error> {
    let value = &op.fields[key].value;
    for (i, (id, form)) in forms.iter().enumerate() {
        if moved.contains_key(id) {
            continue;
        }
        for version in lookup.form_versions(agency, id)? {
            if version == form.version {
                continue;
            }
            let Some(other) = lookup.form(agency, id, version)? else {
                continue;
            };
            let mut set: Vec<&FormDefinition> = forms.iter().map(|(_, f)| &**f).collect();
            set[i] = &other;
            if check_answer_alone(&set, all_held, key, value, today).is_ok() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn invalid(errors: Vec<ValidationError>) -> RejectReason {
    // Validation errors name keys and rules, never values.
    RejectReason::Invalid {
        detail: ValidationErrors(errors).to_string(),
    }
}

#[cfg(test)]
mod tests;
