//! `begin loop over LIST`, as pyxform reads it: the questions between it and `end loop` asked
//! once per choice of the list. The loop is expanded when the workbook is read: each choice
//! gets a copy of the loop's sections and fields, their ids suffixed with the choice's code
//! (`income` in a loop over `crops` with choice `rice` → `income_rice`), `%(label)s` and
//! `%(name)s` in labels replaced by the choice's label and code, and `${...}` references to
//! the loop's own fields pointed at the same choice's copy. The result is ordinary sections,
//! so export writes them as groups and import → export → import is equal. A loop inside a
//! repeat or another loop is refused (see `survey()`).

use super::Importer;
use crate::forms::definition::{Choice, Condition, Labels, Section};
use crate::model::FieldId;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// The sections one `begin loop over` produced, before expansion.
pub(in crate::forms::xlsform) struct LoopSpan {
    pub list: String,
    /// The `begin loop` row, for errors.
    pub row: u32,
    pub sections: Range<usize>,
}

impl Importer {
    /// Replaces each loop's sections by one copy per choice of its list.
    pub(in crate::forms::xlsform) fn expand_loops(
        &mut self,
        sections: &mut Vec<Section>,
        loops: &[LoopSpan],
        lists: &BTreeMap<String, Vec<Choice>>,
        default_language: &str,
    ) {
        // Spans are disjoint and in order: expanding from the last keeps the others' indices.
        for span in loops.iter().rev() {
            let Some(choices) = lists.get(&span.list) else {
                self.problem(
                    "survey",
                    span.row,
                    format!(
                        "begin loop over {}: no choice list named {}",
                        span.list, span.list
                    ),
                );
                continue;
            };
            let template: Vec<Section> = sections[span.sections.clone()].to_vec();
            let own: BTreeSet<String> = template
                .iter()
                .flat_map(|s| s.fields.iter().map(|f| f.id.to_string()))
                .collect();
            let mut expanded = Vec::new();
            for choice in choices {
                let copy = Copy {
                    suffix: suffix(&choice.code),
                    choice,
                    own: &own,
                    default_language,
                    row: span.row,
                };
                for section in &template {
                    expanded.push(self.copy_section(section, &copy));
                }
            }
            sections.splice(span.sections.clone(), expanded);
        }
    }

    fn copy_section(&mut self, section: &Section, copy: &Copy<'_>) -> Section {
        let mut out = section.clone();
        out.id = section.id.as_ref().and_then(|id| self.suffixed(id, copy));
        out.label = copy.labels(&section.label);
        out.relevant = self.renamed(&section.relevant, copy);
        for field in &mut out.fields {
            if let Some(id) = self.suffixed(&field.id, copy) {
                field.id = id;
            }
            field.label = copy.labels(&field.label);
            field.hint = copy.labels(&field.hint);
            field.constraint_message = copy.labels(&field.constraint_message);
            field.relevant = self.renamed(&field.relevant, copy);
            field.constraint = self.renamed(&field.constraint, copy);
            field.required_if = self.renamed(&field.required_if, copy);
            field.calculation = self.renamed(&field.calculation, copy);
            field.choice_filter = self.renamed(&field.choice_filter, copy);
        }
        out
    }

    fn suffixed(&mut self, id: &FieldId, copy: &Copy<'_>) -> Option<FieldId> {
        let name = format!("{id}_{}", copy.suffix);
        let parsed = FieldId::parse(&name).ok();
        if parsed.is_none() {
            self.problem(
                "survey",
                copy.row,
                format!("loop: `{name}` is longer than a name may be (64): shorten {id}"),
            );
        }
        parsed
    }

    /// The expression with references to the loop's fields pointed at this choice's copies.
    fn renamed(&mut self, condition: &Option<Condition>, copy: &Copy<'_>) -> Option<Condition> {
        let condition = condition.as_ref()?;
        let mut text = condition.text.clone();
        for id in copy.own {
            text = text.replace(&format!("${{{id}}}"), &format!("${{{id}_{}}}", copy.suffix));
        }
        match Condition::parse(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                self.problem("survey", copy.row, format!("loop: `{text}`: {e}"));
                None
            }
        }
    }
}

/// One choice's copy of a loop.
struct Copy<'a> {
    choice: &'a Choice,
    suffix: String,
    /// The ids of the loop's fields.
    own: &'a BTreeSet<String>,
    default_language: &'a str,
    row: u32,
}

impl Copy<'_> {
    /// Labels with `%(label)s` as the choice's label (in the same language, else the default)
    /// and `%(name)s` as its code.
    fn labels(&self, labels: &Labels) -> Labels {
        labels
            .iter()
            .map(|(language, text)| {
                let label = self
                    .choice
                    .label
                    .get(language)
                    .or_else(|| self.choice.label.get(self.default_language))
                    .map_or(self.choice.code.as_str(), String::as_str);
                let text = text
                    .replace("%(label)s", label)
                    .replace("%(name)s", &self.choice.code);
                (language.clone(), text)
            })
            .collect()
    }
}

/// A choice code as an id suffix: lower case, other characters `_`.
fn suffix(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
