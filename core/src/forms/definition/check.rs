//! Checking a definition: what [`FormDefinition::check`] (and so every read) guarantees —
//! ids unique across fields, sections and repeats, choice lists that exist and hold valid
//! codes, labels in the default language, repeats whose sections are consecutive, expressions
//! whose references make sense where they are written (`forms/repeat.rs`), calculations
//! without cycles, core mappings to core variables. Errors name the place (field, list,
//! section, repeat) and the reason; definitions are not personal data.

use super::{
    invalid, valid_code, Condition, DefinitionError, Field, FieldType, FormDefinition, Labels,
    MAX_CALCULATION_CHAIN, MAX_CHOICES, MAX_FIELDS, MAX_LABEL_CHARS,
};
use crate::forms::repeat::RefCheck;
use crate::model::answers::{ANSWER_KEY_PREFIX, MAX_INSTANCE_KEY_LEN};
use crate::model::keys::{CASE_KEYS, CONSENT_PREFIX};
use crate::model::FieldId;
use crate::protocol::MAX_FIELD_KEY_BYTES;
use std::collections::{BTreeMap, BTreeSet};

impl FormDefinition {
    /// Checks everything [`FormDefinition::from_json`] checks.
    pub fn check(&self) -> Result<(), DefinitionError> {
        if self.version == 0 {
            return Err(DefinitionError::ZeroVersion);
        }
        check_language(&self.default_language, "default_language")?;
        check_labels(&self.title, "title", &self.default_language, true)?;
        for (name, choices) in &self.choice_lists {
            let place = format!("choice list {name}");
            if !valid_code(name) {
                return Err(invalid(
                    place,
                    "list names are 1 to 64 of A-Z, a-z, 0-9, _, . and -",
                ));
            }
            if choices.is_empty() || choices.len() > MAX_CHOICES {
                return Err(invalid(
                    place,
                    format!("must hold 1 to {MAX_CHOICES} choices"),
                ));
            }
            let mut codes = BTreeSet::new();
            for choice in choices {
                let place = format!("{place}, choice {}", choice.code);
                if !valid_code(&choice.code) {
                    return Err(invalid(
                        place,
                        "codes are 1 to 64 of A-Z, a-z, 0-9, _, . and -",
                    ));
                }
                if !codes.insert(&choice.code) {
                    return Err(invalid(place, "duplicate code"));
                }
                check_labels(&choice.label, &place, &self.default_language, true)?;
            }
        }
        let ids: Vec<&str> = self.fields().map(|f| f.id.as_str()).collect();
        if ids.len() > MAX_FIELDS {
            return Err(invalid(
                "sections",
                format!("more than {MAX_FIELDS} fields"),
            ));
        }
        let mut seen = BTreeSet::new();
        for section in &self.sections {
            if let Some(id) = &section.id {
                if !seen.insert(id.as_str()) {
                    return Err(invalid(format!("section {id}"), "id used twice"));
                }
            }
        }
        for id in self.repeats.keys() {
            if !seen.insert(id.as_str()) {
                return Err(invalid(format!("repeat {id}"), "id used twice"));
            }
        }
        self.check_repeat_sections()?;
        let refs = RefCheck {
            home: self
                .sections
                .iter()
                .flat_map(|s| s.fields.iter().map(|f| (f.id.as_str(), s.repeat_id())))
                .collect(),
            repeats: self.repeats.keys().map(FieldId::as_str).collect(),
        };
        for (id, repeat) in &self.repeats {
            let place = format!("repeat {id}");
            check_labels(&repeat.label, &place, &self.default_language, false)?;
            for (column, condition) in [("relevant", &repeat.relevant), ("count", &repeat.count)] {
                if let Some(c) = condition {
                    check_refs(c, &place, column, &refs, None)?;
                }
            }
        }
        let mut cores = BTreeSet::new();
        for section in &self.sections {
            let place = match &section.id {
                Some(id) => format!("section {id}"),
                None => "section without id".to_owned(),
            };
            check_labels(&section.label, &place, &self.default_language, false)?;
            let within = section.repeat_id();
            if let Some(c) = &section.relevant {
                check_refs(c, &place, "relevant", &refs, within)?;
            }
            for field in &section.fields {
                if !seen.insert(field.id.as_str()) {
                    return Err(invalid(format!("field {}", field.id), "id used twice"));
                }
                if let Some(repeat) = within {
                    check_answer_key_fits(repeat, field.id.as_str())?;
                }
                if within.is_some() && field.core.is_some() {
                    return Err(invalid(
                        format!("field {}", field.id),
                        "a field of a repeat group is answered per instance: it cannot record \
                         a core variable of the case",
                    ));
                }
                self.check_field(field, &refs, within, &mut cores)?;
            }
        }
        self.check_calculation_cycles()
    }

    /// Every section's repeat is declared, every repeat has sections, and a repeat's sections
    /// are consecutive (so its instances are one block of the form).
    fn check_repeat_sections(&self) -> Result<(), DefinitionError> {
        let mut finished: BTreeSet<&str> = BTreeSet::new();
        let mut open: Option<&str> = None;
        for section in &self.sections {
            let repeat = section.repeat_id();
            if repeat != open {
                finished.extend(open);
                if let Some(r) = repeat {
                    if finished.contains(r) {
                        return Err(invalid(
                            format!("repeat {r}"),
                            "its sections must be consecutive",
                        ));
                    }
                    if !self.repeats.contains_key(r) {
                        return Err(invalid(
                            format!("repeat {r}"),
                            "a section names it, but the form declares no such repeat",
                        ));
                    }
                }
                open = repeat;
            }
        }
        finished.extend(open);
        match self.repeats.keys().find(|r| !finished.contains(r.as_str())) {
            Some(r) => Err(invalid(
                format!("repeat {r}"),
                "no section repeats its fields",
            )),
            None => Ok(()),
        }
    }

    /// A calculation may use other calculations, in any order, but not itself through them.
    fn check_calculation_cycles(&self) -> Result<(), DefinitionError> {
        let calculations: BTreeMap<&str, BTreeSet<String>> = self
            .fields()
            .filter_map(|f| Some((f.id.as_str(), f.calculation.as_ref()?.expr.references())))
            .collect();
        // Depth-first, marking fields done; a field met again while open closes a cycle.
        fn visit<'a>(
            id: &'a str,
            graph: &'a BTreeMap<&str, BTreeSet<String>>,
            open: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Result<(), DefinitionError> {
            if done.contains(id) {
                return Ok(());
            }
            if open.len() >= MAX_CALCULATION_CHAIN {
                return Err(invalid(
                    format!("field {id}, calculation"),
                    format!("calculations chain more than {MAX_CALCULATION_CHAIN} deep"),
                ));
            }
            if open.contains(&id) {
                return Err(invalid(
                    format!("field {id}, calculation"),
                    format!("refers to itself through {}", open.join(" → ")),
                ));
            }
            open.push(id);
            for next in graph.get(id).into_iter().flatten() {
                if graph.contains_key(next.as_str()) {
                    visit(next, graph, open, done)?;
                }
            }
            open.pop();
            done.insert(id);
            Ok(())
        }
        let mut done = BTreeSet::new();
        for id in calculations.keys() {
            visit(id, &calculations, &mut Vec::new(), &mut done)?;
        }
        Ok(())
    }

    fn check_field<'a>(
        &self,
        field: &'a Field,
        refs: &RefCheck<'_>,
        within: Option<&str>,
        cores: &mut BTreeSet<&'a str>,
    ) -> Result<(), DefinitionError> {
        let place = format!("field {}", field.id);
        // A calculation is never shown, so it needs no label (as in XLSForm).
        let shown = field.field_type != FieldType::Calculate;
        check_labels(&field.label, &place, &self.default_language, shown)?;
        check_labels(&field.hint, &place, &self.default_language, false)?;
        check_labels(
            &field.constraint_message,
            &place,
            &self.default_language,
            false,
        )?;
        match (&field.choices, field.field_type.has_choices()) {
            (Some(list), true) if !self.choice_lists.contains_key(list) => {
                return Err(invalid(place, format!("no choice list named {list}")));
            }
            (None, true) => return Err(invalid(place, "a select field names its choice list")),
            (Some(_), false) => {
                return Err(invalid(place, "only select fields have a choice list"));
            }
            _ => {}
        }
        if let Some(c) = &field.relevant {
            check_refs(c, &place, "relevant", refs, within)?;
        }
        if let Some(c) = &field.constraint {
            check_refs(c, &place, "constraint", refs, within)?;
        }
        if let Some(c) = &field.required_if {
            check_refs(c, &place, "required", refs, within)?;
            if field.required {
                return Err(invalid(place, "required and required_if together"));
            }
        }
        if !field.field_type.takes_answer()
            && (field.required
                || field.required_if.is_some()
                || field.constraint.is_some()
                || field.core.is_some()
                || field.default.is_some())
        {
            return Err(invalid(
                place,
                format!(
                    "a {} takes no answer: no required, constraint, default or core",
                    field.field_type
                ),
            ));
        }
        match (&field.calculation, field.field_type == FieldType::Calculate) {
            (Some(c), true) => check_refs(c, &place, "calculation", refs, within)?,
            (None, true) => return Err(invalid(place, "a calculate field needs a calculation")),
            (Some(_), false) => {
                return Err(invalid(place, "only calculate fields have a calculation"))
            }
            (None, false) => {}
        }
        if let Some(filter) = &field.choice_filter {
            let Some(list) = field
                .choices
                .as_ref()
                .and_then(|l| self.choice_lists.get(l))
            else {
                return Err(invalid(place, "only select fields have a choice_filter"));
            };
            check_refs(filter, &place, "choice_filter", refs, within)?;
            for name in filter.expr.names() {
                if !list.iter().any(|c| c.columns.contains_key(&name)) {
                    return Err(invalid(
                        format!("{place}, choice_filter"),
                        format!("uses `{name}`, which is not a column of its choice list"),
                    ));
                }
            }
        }
        if let Some(core) = &field.core {
            if !CASE_KEYS.contains(&core.as_str()) || core.starts_with(CONSENT_PREFIX) {
                return Err(invalid(
                    place,
                    "core must name a core variable of the case (see docs/case-format.md), not consent",
                ));
            }
            if !cores.insert(core) {
                return Err(invalid(
                    place,
                    "another field already records this core variable",
                ));
            }
        }
        Ok(())
    }
}

fn check_language(code: &str, place: &str) -> Result<(), DefinitionError> {
    let ok = (2..=8).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            place,
            "a language code is 2 to 8 of a-z, 0-9 and - (en, fr, pt-br)",
        ))
    }
}

fn check_labels(
    labels: &Labels,
    place: &str,
    default_language: &str,
    required: bool,
) -> Result<(), DefinitionError> {
    if required && !labels.contains_key(default_language) {
        return Err(invalid(
            place,
            format!("needs a label in the default language ({default_language})"),
        ));
    }
    for (language, text) in labels {
        check_language(language, place)?;
        if text.trim().is_empty() || text.chars().count() > MAX_LABEL_CHARS {
            return Err(invalid(
                place,
                format!("labels are 1 to {MAX_LABEL_CHARS} characters ({language})"),
            ));
        }
    }
    Ok(())
}

/// Every `${...}` of `condition` names a field (or repeat) of the form and makes sense where it
/// is evaluated: `within` a repeat's instance, or outside all of them.
fn check_refs(
    condition: &Condition,
    place: &str,
    column: &str,
    refs: &RefCheck<'_>,
    within: Option<&str>,
) -> Result<(), DefinitionError> {
    refs.check(&condition.expr, within)
        .map_err(|reason| invalid(format!("{place}, {column}"), reason))
}

/// The longest answer key of a repeat's field (`answers.<repeat>.<instance key>.<field>`, with
/// the longest instance key) must fit the sync protocol's key bound.
fn check_answer_key_fits(repeat: &str, field: &str) -> Result<(), DefinitionError> {
    let longest = ANSWER_KEY_PREFIX.len() + repeat.len() + field.len() + MAX_INSTANCE_KEY_LEN + 2;
    if longest > MAX_FIELD_KEY_BYTES {
        let room = MAX_FIELD_KEY_BYTES - ANSWER_KEY_PREFIX.len() - MAX_INSTANCE_KEY_LEN - 2;
        return Err(invalid(
            format!("field {field}"),
            format!(
                "its id and its repeat's ({repeat}) are too long together for an answer key: \
                 at most {room} characters in all"
            ),
        ));
    }
    Ok(())
}
