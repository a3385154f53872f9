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
//! - A repeat group's fields are checked in each instance (`answers.<repeat>.<instance>.<id>`,
//!   an instance existing while it holds an answer), in the instance's own context: its
//!   `${field}`s, hidden fields and calculations are that instance's. A repeat whose
//!   `relevant` is false takes no instance; one with a `count` takes at most that many
//!   ([`Reason::TooManyItems`] on `answers.<repeat>`); a repeat's field answered once for the
//!   case is [`Reason::InRepeat`]. Deleting an instance is clearing its answers.
//!
//! Errors name the field (`answers.<id>`, or the core variable) and a [`Reason`], never the
//! value. This module is pure: finding form versions is the caller's job.

mod alone;
mod context;

use super::definition::{Condition, Field, FieldType, FormDefinition, FormId, Section};
use super::expr::Val;
use crate::model::answers::{AnswerPath, ANSWER_KEY_PREFIX};
use crate::model::ValidationErrors;
use crate::model::{Country, Date, DateError, Fields, PartialDate, Reason, ValidationError};
pub use alone::check_answer_alone;
use context::{answer_key_at, At, Context};
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
        // Field id → the repeat it belongs to, over every form the case names.
        let known: BTreeMap<&str, Option<&str>> = forms
            .iter()
            .flat_map(|f| &f.sections)
            .flat_map(|s| s.fields.iter().map(|f| (f.id.as_str(), s.repeat_id())))
            .collect();
        for (key, value) in fields.range(ANSWER_KEY_PREFIX.to_owned()..) {
            let Some(path) = key.strip_prefix(ANSWER_KEY_PREFIX) else {
                break;
            };
            if value.is_null() {
                continue;
            }
            // A malformed path is the case model's to report.
            let Ok(path) = AnswerPath::parse(path) else {
                continue;
            };
            let repeat = path.instance().map(|(r, _)| r.as_str());
            match known.get(path.field().as_str()) {
                // A repeat's field answered once for the case: its form says so (InRepeat).
                Some(Some(_)) if repeat.is_none() => {}
                Some(home) if *home == repeat => {}
                _ => errors.push(ValidationError::new(
                    crate::model::validate::shown_key(key),
                    Reason::NotInForm,
                )),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Where a field's answer lives in a case: its core variable, or `answers.<id>` (a repeat's
/// field is answered per instance: see [`crate::model::AnswerPath`]).
pub fn answer_key(field: &Field) -> String {
    answer_key_at(field, None)
}

/// Checks the fields of one form version against a case's flat fields.
pub fn check_form(
    form: &FormDefinition,
    fields: &Fields,
    today: Date,
) -> Result<(), ValidationErrors> {
    let mut cx = Context::new(form, fields, today.to_string());
    let mut errors = Vec::new();
    let mut rest = &form.sections[..];
    while let Some(first) = rest.first() {
        let Some(repeat) = first.repeat_id() else {
            check_section(&mut cx, first, None, true, &mut errors);
            rest = &rest[1..];
            continue;
        };
        // A repeat's sections are consecutive (checked when the definition is read).
        let block = rest.iter().take_while(|s| s.repeat == first.repeat).count();
        check_repeat(&mut cx, repeat, &rest[..block], &mut errors);
        rest = &rest[block..];
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Checks every instance of a repeat, section by section, after the repeat's own condition
/// and count (both evaluated outside it).
fn check_repeat<'a>(
    cx: &mut Context<'a>,
    repeat: &'a str,
    sections: &'a [Section],
    errors: &mut Vec<ValidationError>,
) {
    let Some(declared) = cx.form.repeats.get(repeat) else {
        return;
    };
    let shown = declared
        .relevant
        .as_ref()
        .is_none_or(|c| cx.holds(&c.expr, Val::from_answer(None), None));
    // A repeat's field answered once for the whole case: the instance is missing.
    for field in sections.iter().flat_map(|s| &s.fields) {
        if present(cx.fields, &field.id.key()) {
            errors.push(ValidationError::new(field.id.key(), Reason::InRepeat));
        }
    }
    let keys = cx.instances.get(repeat).cloned().unwrap_or_default();
    if let Some(count) = &declared.count {
        let most = cx
            .eval(&count.expr, Val::from_answer(None), 0, None, None)
            .number()
            .filter(|n| *n >= 0.0)
            .map_or(0, |n| n.floor().min(usize::MAX as f64) as usize);
        if keys.len() > most {
            errors.push(ValidationError::new(
                format!("{ANSWER_KEY_PREFIX}{repeat}"),
                Reason::TooManyItems { max_items: most },
            ));
        }
    }
    for (i, key) in keys.into_iter().enumerate() {
        let at = At {
            repeat,
            key,
            position: i + 1,
        };
        for section in sections {
            check_section(cx, section, Some(at), shown, errors);
        }
    }
}

/// Checks one section's fields (in one instance `at` of its repeat, if it has one).
fn check_section<'a>(
    cx: &mut Context<'a>,
    section: &'a Section,
    at: Option<At<'a>>,
    outer_shown: bool,
    errors: &mut Vec<ValidationError>,
) {
    let fields = cx.fields;
    // A section's condition is evaluated once, before its fields.
    let section_shown = outer_shown
        && section
            .relevant
            .as_ref()
            .is_none_or(|c| cx.holds(&c.expr, Val::from_answer(None), at));
    for field in &section.fields {
        let value = cx.answer(field, at);
        let shown = section_shown
            && field
                .relevant
                .as_ref()
                .is_none_or(|c| cx.holds(&c.expr, Val::from_answer(value), at));
        // Keys are built only for errors: most fields of most cases have none.
        let key = || answer_key_at(field, at);
        if at.is_none() && field.core.is_some() && present(fields, &field.id.key()) {
            errors.push(ValidationError::new(field.id.key(), Reason::RecordedAsCore));
        }
        if !shown {
            cx.hide(field.id.as_str(), at);
            if value.is_some() {
                errors.push(ValidationError::new(key(), Reason::NotRelevant));
            }
            continue;
        }
        let Some(value) = value else {
            let required = field.required
                || field
                    .required_if
                    .as_ref()
                    .is_some_and(|c| cx.holds(&c.expr, Val::from_answer(None), at));
            if required {
                errors.push(ValidationError::new(key(), Reason::Required));
            }
            continue;
        };
        // A core variable's type is the case model's to check.
        if field.core.is_none() {
            if let Err(reason) = check_type(cx.form, field, value) {
                errors.push(ValidationError::new(key(), reason));
                continue;
            }
        }
        if let Some(filter) = &field.choice_filter {
            if !filtered_in(cx, field, filter, value, at) {
                errors.push(ValidationError::new(key(), Reason::NotAChoice));
                continue;
            }
        }
        if let Some(c) = &field.constraint {
            if !cx.holds(&c.expr, Val::from_answer(Some(value)), at) {
                errors.push(ValidationError::new(key(), Reason::ConstraintFailed));
            }
        }
    }
}

fn present(fields: &Fields, key: &str) -> bool {
    fields.get(key).is_some_and(|v| !v.is_null())
}

/// Whether every code of a select answer is a choice its field's `choice_filter` offers.
fn filtered_in<'a>(
    cx: &Context<'a>,
    field: &Field,
    filter: &Condition,
    value: &Value,
    at: Option<At<'a>>,
) -> bool {
    let Some(list) = field
        .choices
        .as_ref()
        .and_then(|l| cx.form.choice_lists.get(l))
    else {
        return false;
    };
    let codes: Vec<&str> = match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().into_iter().collect(),
    };
    codes.into_iter().all(|code| {
        list.iter().find(|c| c.code == code).is_some_and(|choice| {
            cx.eval(
                &filter.expr,
                Val::Text(code.to_owned()),
                0,
                Some(choice),
                at,
            )
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
