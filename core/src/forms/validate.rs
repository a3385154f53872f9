//! Checking a case's answers against form versions.
//!
//! A case names the forms it was recorded with as `forms.<form id>` → version (one flat key per
//! form, so it merges like any field). [`check_case`] validates the case's answers against
//! exactly those versions — never against a newer one, so old answers stay valid and readable
//! after a form changes — and [`check_form`] validates one form's fields. The rules:
//!
//! - A field is shown when its section's and its own `relevant` hold; a field that is not shown
//!   counts as unanswered in every other field's expressions (as in XLSForm).
//! - A shown, required field must be answered; a shown, answered field must have the right type
//!   (choice codes from its list, dates as `YYYY-MM-DD`, ...) and satisfy its `constraint`.
//! - An answer to a field that is not shown is **rejected** ([`Reason::NotRelevant`]): the app
//!   clears it (writes `null`) in the same change that hides it, so a report never counts an
//!   answer the caseworker could not see.
//! - Once a case names a form, every `answers.<id>` must be a field of one of its forms
//!   ([`Reason::NotInForm`]); a field mapped to a core variable is answered there, not under
//!   `answers.` ([`Reason::RecordedAsCore`]). A case that names no form keeps free answers,
//!   as before forms existed.
//!
//! Errors name the field (`answers.<id>`, or the core variable) and a [`Reason`], never the
//! value. This module is pure: finding form versions is the caller's job.

use super::definition::{
    Choice, Condition, Field, FieldType, FormDefinition, FormId, MAX_CALCULATION_CHAIN,
};
use super::expr::{Expr, Scope, Val};
use crate::model::answers::ANSWER_KEY_PREFIX;
use crate::model::ValidationErrors;
use crate::model::{Country, Date, DateError, Fields, PartialDate, Reason, ValidationError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The prefix of the flat keys naming a case's forms: `forms.<form id>` → version.
pub const FORM_KEY_PREFIX: &str = "forms.";

/// Longest text answer, in characters (the answer bound of 10 KiB is the outer limit).
pub const MAX_TEXT_ANSWER_CHARS: usize = 4000;

/// The forms a case names, by id → version. Malformed keys or versions are reported.
pub fn form_refs(fields: &Fields) -> (BTreeMap<FormId, u32>, Vec<ValidationError>) {
    let mut refs = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, value) in fields.range(FORM_KEY_PREFIX.to_owned()..) {
        let Some(id) = key.strip_prefix(FORM_KEY_PREFIX) else {
            break;
        };
        if value.is_null() {
            continue;
        }
        let Ok(id) = FormId::parse(id) else {
            errors.push(ValidationError::new(
                crate::model::validate::shown_key(key),
                Reason::InvalidFieldId,
            ));
            continue;
        };
        match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(version) if version >= 1 => {
                refs.insert(id, version);
            }
            _ => errors.push(ValidationError::new(
                key.clone(),
                Reason::InvalidFormVersion,
            )),
        }
    }
    (refs, errors)
}

/// Checks a case's answers against the form versions it names; `lookup` finds a version.
pub fn check_case<'a>(
    fields: &Fields,
    lookup: &dyn Fn(&FormId, u32) -> Option<&'a FormDefinition>,
    today: Date,
) -> Result<(), ValidationErrors> {
    let (refs, mut errors) = form_refs(fields);
    if refs.is_empty() && errors.is_empty() {
        return Ok(());
    }
    let mut forms = Vec::new();
    let mut all_held = true;
    for (id, version) in &refs {
        match lookup(id, *version) {
            Some(form) => forms.push(form),
            None => {
                all_held = false;
                errors.push(ValidationError::new(
                    format!("{FORM_KEY_PREFIX}{id}"),
                    Reason::FormNotHeld,
                ));
            }
        }
    }
    for form in &forms {
        if let Err(e) = check_form(form, fields, today) {
            errors.extend(e.0);
        }
    }
    // Without every form, an answer of a missing one would look unknown: skip that check.
    if all_held {
        let known: BTreeSet<&str> = forms
            .iter()
            .flat_map(|f| f.fields())
            .map(|f| f.id.as_str())
            .collect();
        for (key, value) in fields.range(ANSWER_KEY_PREFIX.to_owned()..) {
            let Some(id) = key.strip_prefix(ANSWER_KEY_PREFIX) else {
                break;
            };
            if !value.is_null() && !known.contains(id) {
                errors.push(ValidationError::new(
                    crate::model::validate::shown_key(key),
                    Reason::NotInForm,
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Where a field's answer lives in a case: its core variable, or `answers.<id>`.
pub fn answer_key(field: &Field) -> String {
    match &field.core {
        Some(core) => core.clone(),
        None => field.id.key(),
    }
}

/// What evaluating one form's expressions against one case needs.
struct Context<'a> {
    form: &'a FormDefinition,
    by_id: BTreeMap<&'a str, &'a Field>,
    fields: &'a Fields,
    /// Fields found hidden so far (they count as unanswered).
    hidden: BTreeSet<&'a str>,
    today: String,
}

impl<'a> Context<'a> {
    /// A field's value: its answer, or its calculation's value; `''` when hidden.
    fn value(&self, id: &str, depth: usize) -> Val {
        if self.hidden.contains(id) {
            return Val::from_answer(None);
        }
        let Some(field) = self.by_id.get(id) else {
            return Val::from_answer(None);
        };
        match &field.calculation {
            // Chains are bounded when the definition is read; the depth guards the stack.
            Some(c) if depth <= MAX_CALCULATION_CHAIN => {
                self.eval(&c.expr, Val::from_answer(None), depth + 1, None)
            }
            Some(_) => Val::from_answer(None),
            None => Val::from_answer(self.fields.get(&answer_key(field))),
        }
    }

    /// Evaluates an expression; `choice` gives the columns bare names read (a choice filter).
    fn eval(&self, expr: &Expr, current: Val, depth: usize, choice: Option<&Choice>) -> Val {
        let field = |id: &str| self.value(id, depth);
        let name = |n: &str| {
            Val::Text(
                choice
                    .and_then(|c| c.columns.get(n))
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        let choice_name = |id: &str, code: &str| {
            self.by_id
                .get(id)
                .and_then(|f| self.form.choice_label(f, code, &self.form.default_language))
                .unwrap_or_default()
                .to_owned()
        };
        expr.eval(&Scope {
            field: &field,
            current,
            today: self.today.clone(),
            name: &name,
            choice_name: &choice_name,
        })
    }

    fn holds(&self, expr: &Expr, current: Val) -> bool {
        self.eval(expr, current, 0, None).truthy()
    }
}

/// Checks the fields of one form version against a case's flat fields.
pub fn check_form(
    form: &FormDefinition,
    fields: &Fields,
    today: Date,
) -> Result<(), ValidationErrors> {
    let answer = |field: &Field| fields.get(&answer_key(field)).filter(|v| !v.is_null());
    let mut cx = Context {
        form,
        by_id: form.fields().map(|f| (f.id.as_str(), f)).collect(),
        fields,
        hidden: BTreeSet::new(),
        today: today.to_string(),
    };
    let mut errors = Vec::new();
    for section in &form.sections {
        // A section's condition is evaluated once, before its fields.
        let section_shown = section
            .relevant
            .as_ref()
            .is_none_or(|c| cx.holds(&c.expr, Val::from_answer(None)));
        for field in &section.fields {
            let value = answer(field);
            let shown = section_shown
                && field
                    .relevant
                    .as_ref()
                    .is_none_or(|c| cx.holds(&c.expr, Val::from_answer(value)));
            let key = answer_key(field);
            if field.core.is_some() && fields.get(&field.id.key()).is_some_and(|v| !v.is_null()) {
                errors.push(ValidationError::new(field.id.key(), Reason::RecordedAsCore));
            }
            if !shown {
                cx.hidden.insert(field.id.as_str());
                if value.is_some() {
                    errors.push(ValidationError::new(key, Reason::NotRelevant));
                }
                continue;
            }
            let Some(value) = value else {
                let required = field.required
                    || field
                        .required_if
                        .as_ref()
                        .is_some_and(|c| cx.holds(&c.expr, Val::from_answer(None)));
                if required {
                    errors.push(ValidationError::new(key, Reason::Required));
                }
                continue;
            };
            // A core variable's type is the case model's to check.
            if field.core.is_none() {
                if let Err(reason) = check_type(form, field, value) {
                    errors.push(ValidationError::new(key, reason));
                    continue;
                }
            }
            if let Some(filter) = &field.choice_filter {
                if !filtered_in(&cx, form, field, filter, value) {
                    errors.push(ValidationError::new(key, Reason::NotAChoice));
                    continue;
                }
            }
            if let Some(c) = &field.constraint {
                if !cx.holds(&c.expr, Val::from_answer(Some(value))) {
                    errors.push(ValidationError::new(key, Reason::ConstraintFailed));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Whether every code of a select answer is a choice its field's `choice_filter` offers.
fn filtered_in(
    cx: &Context<'_>,
    form: &FormDefinition,
    field: &Field,
    filter: &Condition,
    value: &Value,
) -> bool {
    let Some(list) = field
        .choices
        .as_ref()
        .and_then(|l| form.choice_lists.get(l))
    else {
        return false;
    };
    let codes: Vec<&str> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().into_iter().collect(),
    };
    codes.into_iter().all(|code| {
        list.iter().find(|c| c.code == code).is_some_and(|choice| {
            cx.eval(&filter.expr, Val::Text(code.to_owned()), 0, Some(choice))
                .truthy()
        })
    })
}

const A_WHOLE_NUMBER: &str = "a whole number";
const A_NUMBER: &str = "a number";
const A_LIST_OF_CODES: &str = "a non-empty list of choice codes";

/// Checks an answer's type (and choice codes) for its field.
pub fn check_type(form: &FormDefinition, field: &Field, value: &Value) -> Result<(), Reason> {
    let choices = || {
        field
            .choices
            .as_ref()
            .and_then(|list| form.choice_lists.get(list))
            .map(|list| {
                list.iter()
                    .map(|c| c.code.as_str())
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default()
    };
    let string = || {
        value.as_str().ok_or(Reason::WrongType {
            expected: "a string",
        })
    };
    match field.field_type {
        FieldType::Text => {
            let text = string()?;
            if text.trim().is_empty() {
                return Err(Reason::EmptyText);
            }
            if text.chars().count() > MAX_TEXT_ANSWER_CHARS {
                return Err(Reason::TooLong {
                    max_chars: MAX_TEXT_ANSWER_CHARS,
                });
            }
            let allowed = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
            if !text.chars().all(allowed) {
                return Err(Reason::ControlCharacters);
            }
        }
        FieldType::Integer => {
            if !(value.is_i64() || value.is_u64()) {
                return Err(Reason::WrongType {
                    expected: A_WHOLE_NUMBER,
                });
            }
        }
        FieldType::Decimal => {
            if !value.is_number() {
                return Err(Reason::WrongType { expected: A_NUMBER });
            }
        }
        FieldType::Date => {
            Date::parse(string()?).map_err(|e| date_reason(e, "YYYY-MM-DD"))?;
        }
        FieldType::PartialDate => {
            PartialDate::parse(string()?)
                .map_err(|e| date_reason(e, "YYYY-MM-DD, YYYY-MM or YYYY"))?;
        }
        FieldType::SelectOne => {
            if !choices().contains(string()?) {
                return Err(Reason::NotAChoice);
            }
        }
        FieldType::SelectMultiple => {
            let wrong = Reason::WrongType {
                expected: A_LIST_OF_CODES,
            };
            let items = value
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or(wrong.clone())?;
            let allowed = choices();
            let mut seen = BTreeSet::new();
            for item in items {
                let code = item.as_str().ok_or(wrong.clone())?;
                if !allowed.contains(code) {
                    return Err(Reason::NotAChoice);
                }
                if !seen.insert(code) {
                    return Err(Reason::DuplicateItem);
                }
            }
        }
        FieldType::YesNo => {
            if !value.is_boolean() {
                return Err(Reason::WrongType {
                    expected: "true or false",
                });
            }
        }
        FieldType::Country => {
            Country::parse(string()?).map_err(|_| Reason::NotCountry)?;
        }
        FieldType::Note | FieldType::Calculate => return Err(Reason::NoAnswerExpected),
    }
    Ok(())
}

fn date_reason(error: DateError, expected: &'static str) -> Reason {
    match error {
        DateError::Malformed => Reason::MalformedDate { expected },
        DateError::Impossible => Reason::ImpossibleDate,
        DateError::Partial => Reason::PartialDate,
    }
}
