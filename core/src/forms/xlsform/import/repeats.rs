//! `begin repeat` rows: a repeat group opens like a group, but its condition and
//! `repeat_count` are the repeat's own (evaluated once, outside it), its fields are answered
//! per instance, and a repeat inside a repeat is refused.

use super::{Group, Importer, MAX_GROUP_DEPTH};
use crate::forms::definition::Labels;
use crate::forms::repeat::Repeat;
use crate::model::FieldId;
use std::collections::BTreeMap;

/// What a `begin repeat` row says.
pub(super) struct RepeatRow<'a> {
    pub id: FieldId,
    pub label: Labels,
    /// The row's `relevant`, as written.
    pub relevant: Option<String>,
    /// The row's `repeat_count`, as written (empty: no bound).
    pub count: &'a str,
    pub row: u32,
}

impl Importer {
    /// Declares the repeat in `repeats` and gives the group it opens, or `None` when it cannot
    /// be opened (groups too deep). A repeat inside a repeat is reported but still opened, so
    /// its `end repeat` closes it rather than the outer one.
    pub(super) fn begin_repeat(
        &mut self,
        repeats: &mut BTreeMap<FieldId, Repeat>,
        groups: &[Group],
        written: RepeatRow<'_>,
    ) -> Option<Group> {
        let RepeatRow {
            id,
            label,
            relevant,
            count,
            row,
        } = written;
        let nested = groups.iter().find(|g| g.is_repeat).map(|g| g.id.clone());
        if let Some(outer) = &nested {
            self.problem(
                "survey",
                row,
                format!(
                    "repeat {id} is inside repeat {outer}: repeats inside repeats are not \
                     supported (record the inner items as a repeat of their own)"
                ),
            );
        }
        if groups.len() >= MAX_GROUP_DEPTH {
            self.problem(
                "survey",
                row,
                format!("groups nest more than {MAX_GROUP_DEPTH} deep"),
            );
            return None;
        }
        // The enclosing groups' conditions become the repeat's.
        let outer = groups.last().and_then(|g| g.relevant.clone());
        let relevant = match (outer, relevant) {
            (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
            (a, b) => a.or(b),
        };
        let relevant =
            relevant.and_then(|text| self.condition(row, "relevant (with its groups')", &text));
        let count = self.condition(row, "repeat_count", count);
        if nested.is_none() {
            let repeat = Repeat {
                label: label.clone(),
                relevant,
                count,
            };
            repeats.insert(id.clone(), repeat);
        }
        Some(Group {
            id: id.clone(),
            label,
            relevant: None,
            continued: 0,
            repeat: Some(id),
            is_repeat: true,
            loop_over: None,
        })
    }
}
