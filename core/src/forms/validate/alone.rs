//! The rules an answer breaks on its own, whatever the rest of the case holds.
//!
//! [`check_case`](super::check_case) judges a whole case; some of its rules read one answer
//! only — the field must be one of the case's forms (and answered where its repeat says), the
//! value must have the field's type and choice codes, and a `constraint` that reads nothing but
//! `.` and literals (a `regex()`, a range, a length; not `today()`, which is another day when
//! an answer written offline arrives) must hold. No merge of two valid edits can break one of
//! these, so the server refuses a pushed operation that does, exactly as a device refuses the
//! write ([`check_answer_alone`] gives the very error `check_case` gives for that key when the
//! field is shown). Every other rule — `relevant`, `required`, constraints and choice filters
//! that read other fields, repeat counts — is a rule between fields: a merge can break it, so
//! the server evaluates it on the merged case and flags the case for review instead.
//!
//! This module is pure: the caller finds the form versions.

use super::{check_type, FormDefinition};
use crate::forms::expr::{Scope, Val};
use crate::model::answers::{AnswerPath, ANSWER_KEY_PREFIX};
use crate::model::validate::shown_key;
use crate::model::{Date, Reason, ValidationError};
use serde_json::Value;

/// Checks one value of a case (`key` → `value`) against the rules that read it alone, under
/// `forms` (the versions the case names). `all_held` says whether every version it names was
/// found: without one, a field of that form would look unknown, so "not in the form" is not
/// decided (as in `check_case`); with no form at all, answers are free (a case that names no
/// form). Keys other than `answers.*` are the case model's, except that a core variable a
/// form field records must satisfy that field's own constraint.
pub fn check_answer_alone(
    forms: &[&FormDefinition],
    all_held: bool,
    key: &str,
    value: &Value,
    today: Date,
) -> Result<(), ValidationError> {
    if value.is_null() || (forms.is_empty() && all_held) {
        return Ok(());
    }
    let Some(path) = key.strip_prefix(ANSWER_KEY_PREFIX) else {
        return check_core_variable(forms, key, value, today);
    };
    // A malformed path is the case model's to report.
    let Ok(path) = AnswerPath::parse(path) else {
        return Ok(());
    };
    let repeat = path.instance().map(|(r, _)| r.as_str());
    let found = forms.iter().find_map(|form| {
        form.sections.iter().find_map(|section| {
            let field = section.fields.iter().find(|f| f.id == *path.field())?;
            Some((*form, section.repeat_id(), field))
        })
    });
    let Some((form, home, field)) = found else {
        return if all_held {
            Err(ValidationError::new(shown_key(key), Reason::NotInForm))
        } else {
            Ok(())
        };
    };
    match (home, repeat) {
        (Some(_), None) => return Err(ValidationError::new(key, Reason::InRepeat)),
        (home, repeat) if home != repeat => {
            return Err(ValidationError::new(shown_key(key), Reason::NotInForm))
        }
        _ => {}
    }
    if field.core.is_some() {
        return Err(ValidationError::new(key, Reason::RecordedAsCore));
    }
    check_type(form, field, value).map_err(|reason| ValidationError::new(key, reason))?;
    own_constraint(form, field, value, today).map_err(|reason| ValidationError::new(key, reason))
}

/// A core variable's value against the own constraint of every form field that records it.
fn check_core_variable(
    forms: &[&FormDefinition],
    key: &str,
    value: &Value,
    today: Date,
) -> Result<(), ValidationError> {
    for form in forms {
        for field in form.fields().filter(|f| f.core.as_deref() == Some(key)) {
            own_constraint(form, field, value, today)
                .map_err(|reason| ValidationError::new(key, reason))?;
        }
    }
    Ok(())
}

/// A field's constraint, when it reads only `.`, evaluated by the engine `check_case` uses.
/// Such an expression reaches no other answer, calculation, repeat or choice column, so its
/// scope holds `.` and the form's labels (`jr:choice-name`) only — built per call without the
/// case-wide index `check_case` builds once per case, which would cost as much as the check
/// for every answer of a long form.
fn own_constraint(
    form: &FormDefinition,
    field: &super::Field,
    value: &Value,
    today: Date,
) -> Result<(), Reason> {
    let Some(constraint) = field
        .constraint
        .as_ref()
        .filter(|c| c.expr.reads_only_current())
    else {
        return Ok(());
    };
    let unanswered = |_: &str| Val::from_answer(None);
    let no_column = |_: &str| Val::Text(String::new());
    let choice_name = |id: &str, code: &str| {
        form.fields()
            .find(|f| f.id.as_str() == id)
            .and_then(|f| form.choice_label(f, code, &form.default_language))
            .unwrap_or_default()
            .to_owned()
    };
    let scope = Scope {
        field: &unanswered,
        current: Val::from_answer(Some(value)),
        today: today.to_string(),
        name: &no_column,
        choice_name: &choice_name,
        nodes: &|_| None,
        position: 0,
    };
    if constraint.expr.holds(&scope) {
        Ok(())
    } else {
        Err(Reason::ConstraintFailed)
    }
}

#[cfg(test)]
mod tests;
