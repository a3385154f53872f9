//! Reading an XLSForm workbook into a form definition.
//!
//! Every problem of every row is collected before giving up, so an admin fixes a workbook in
//! one pass. A cell's content may appear in an error only when it is part of the form's
//! design (a type, a column name, an expression); workbooks hold no answers. What is read,
//! and in which spellings, follows pyxform (see `docs/forms.md`); names fieldcase stores more
//! strictly (form ids, field names) are normalised by [`spelling`](super::spelling).

use super::sheet::{get, labels, Sheet, MAX_ROWS};
use super::spelling::{normalize_id, row_type, RowType};
use super::{Problem, XlsFormError};
use crate::forms::definition::{Condition, Field, FieldType, FormDefinition, Labels, Section};
use crate::forms::repeat::Repeat;
use crate::model::FieldId;
use calamine::{open_workbook_from_rs, Reader, Xlsx};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

mod loops;
mod repeats;
mod sheets;

use loops::LoopSpan;
use repeats::RepeatRow;
use sheets::{add_other, implied_default_language};

/// Largest workbook accepted, in bytes: a form of a thousand questions in several languages is
/// well under 1 MiB; the bound stops a zip bomb's outer layer.
pub const MAX_XLSFORM_BYTES: usize = 10 * 1024 * 1024;

/// Deepest nesting of groups: real forms nest two or three; each level adds a condition to
/// every section below it.
pub const MAX_GROUP_DEPTH: usize = 8;

/// Survey columns whose meaning fieldcase does not support: a row that fills one is refused
/// rather than imported with the column silently ignored.
const UNSUPPORTED_COLUMNS: [&str; 2] = ["read_only", "trigger"];

/// The code and label pyxform gives the choice `or_other` adds.
const OTHER_CODE: &str = "other";
const OTHER_LABEL: &str = "Other";
const SPECIFY_OTHER_LABEL: &str = "Specify other.";

/// Reads an `.xlsx` XLSForm.
pub fn import(bytes: &[u8]) -> Result<FormDefinition, XlsFormError> {
    import_named(bytes, None)
}

/// Reads an `.xlsx` XLSForm whose file is called `file_name`: as in pyxform, a workbook
/// without a `settings` sheet (or `form_id`) takes its form id from the file name.
pub fn import_named(bytes: &[u8], file_name: Option<&str>) -> Result<FormDefinition, XlsFormError> {
    if bytes.len() > MAX_XLSFORM_BYTES {
        return Err(XlsFormError::TooLarge);
    }
    crate::workbook::read_guarded(|| read_workbook(bytes, file_name)).unwrap_or_else(|| {
        Err(XlsFormError::Unreadable(
            "the workbook is damaged (a malformed cell reference or part)".into(),
        ))
    })
}

/// [`import_named`] past the size check; may panic inside calamine on a malformed workbook.
fn read_workbook(bytes: &[u8], file_name: Option<&str>) -> Result<FormDefinition, XlsFormError> {
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| XlsFormError::Unreadable(e.to_string()))?;
    let names = book.sheet_names();
    let find = |wanted: &str| {
        names
            .iter()
            .find(|n| n.trim().eq_ignore_ascii_case(wanted))
            .cloned()
    };
    let mut problems = Vec::new();
    let mut sheet = |name: &'static str, problems: &mut Vec<Problem>| -> Option<Sheet> {
        let actual = find(name)?;
        match book.worksheet_range(&actual) {
            Ok(range) => Some(Sheet::new(name, &range)),
            Err(e) => {
                problems.push(Problem {
                    sheet: name,
                    row: 0,
                    message: format!("cannot be read: {e}"),
                });
                None
            }
        }
    };
    let survey = sheet("survey", &mut problems);
    let choices = sheet("choices", &mut problems);
    let settings = sheet("settings", &mut problems);
    let Some(survey) = survey else {
        if problems.is_empty() {
            problems.push(Problem {
                sheet: "survey",
                row: 0,
                message: "the workbook has no survey sheet".into(),
            });
        }
        return Err(XlsFormError::Problems(problems));
    };
    let mut reader = Importer {
        problems,
        names: BTreeMap::new(),
    };
    let mut settings = reader.settings(settings.as_ref());
    let default_language = settings
        .default_language
        .clone()
        .unwrap_or_else(|| implied_default_language(&survey));
    reader.collect_names(&survey);
    let mut read = reader.survey(&survey, &default_language);
    let mut choice_lists = choices
        .as_ref()
        .map(|c| reader.choices(c, &default_language, &read.filter_columns))
        .unwrap_or_default();
    reader.expand_loops(
        &mut read.sections,
        &read.loops,
        &choice_lists,
        &default_language,
    );
    for list in &read.or_other_lists {
        add_other(&mut choice_lists, list, &default_language);
    }
    if settings.id.is_none() {
        settings.id = file_name.and_then(|f| {
            let stem = std::path::Path::new(f).file_stem()?.to_str()?;
            normalize_id(stem)
        });
    }
    let Some(id) = settings.id else {
        reader.problem(
            "settings",
            0,
            "no form_id, and no file name to take it from: add a settings sheet with form_id",
        );
        return Err(XlsFormError::Problems(reader.problems));
    };
    if !reader.problems.is_empty() {
        return Err(XlsFormError::Problems(reader.problems));
    }
    let mut title = settings.title;
    if !title.contains_key(&default_language) {
        title.insert(default_language.clone(), id.to_string());
    }
    let form = FormDefinition {
        id,
        version: settings.version.unwrap_or(1),
        title,
        default_language,
        choice_lists,
        repeats: read.repeats,
        sections: read.sections,
    };
    form.check()?;
    Ok(form)
}

/// What the survey sheet gives besides its sections.
struct Survey {
    sections: Vec<Section>,
    repeats: BTreeMap<FieldId, Repeat>,
    /// Choice columns some `choice_filter` reads.
    filter_columns: BTreeSet<String>,
    /// Lists an `or_other` select uses.
    or_other_lists: BTreeSet<String>,
    /// `begin loop over` spans, expanded once the choices are read.
    loops: Vec<LoopSpan>,
}

/// An open group (or repeat) while reading nested groups, which become consecutive sections.
struct Group {
    id: FieldId,
    label: Labels,
    /// Its condition and every enclosing group's up to the nearest repeat, joined with `and`
    /// (a repeat's own condition is the repeat's, evaluated once outside it).
    relevant: Option<String>,
    /// How many sections continue it after inner groups closed.
    continued: usize,
    /// The repeat its fields belong to: itself for a repeat, the enclosing one for a group.
    repeat: Option<FieldId>,
    is_repeat: bool,
    /// For a `begin loop over`: its list, where its sections start, and its row.
    loop_over: Option<(String, usize, u32)>,
}

struct Importer {
    problems: Vec<Problem>,
    /// Survey names as written → their normalised ids, to rewrite `${...}` references.
    names: BTreeMap<String, FieldId>,
}

impl Importer {
    fn problem(&mut self, sheet: &'static str, row: u32, message: impl Into<String>) {
        self.problems.push(Problem {
            sheet,
            row,
            message: message.into(),
        });
    }

    /// First pass: every name of the survey and its normalised id, so expressions can refer
    /// to fields defined later. Two names normalising to one id are reported.
    fn collect_names(&mut self, sheet: &Sheet) {
        let name_column = sheet.column("name");
        let mut seen: BTreeMap<FieldId, String> = BTreeMap::new();
        let mut problems = Vec::new();
        for (row_number, row) in sheet.data() {
            let name = get(row, name_column);
            if name.is_empty() {
                continue;
            }
            let Some(id) = normalize_id(name) else {
                continue;
            };
            match seen.get(&id) {
                Some(other) if other != name => problems.push((
                    row_number,
                    format!("name `{name}` becomes `{id}`, as `{other}` does: rename one"),
                )),
                _ => {
                    seen.insert(id.clone(), name.to_owned());
                }
            }
            self.names.insert(name.to_owned(), id);
        }
        for (row, message) in problems {
            self.problem("survey", row, message);
        }
    }

    /// An expression with its `${name}` references rewritten to normalised ids.
    fn rewrite(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            let id = self
                .names
                .get(name.trim())
                .map(|id| id.to_string())
                .or_else(|| normalize_id(name).map(|id| id.to_string()))
                .unwrap_or_else(|| name.to_owned());
            out.push_str("${");
            out.push_str(&id);
            out.push('}');
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn condition(&mut self, row: u32, column: &str, text: &str) -> Option<Condition> {
        if text.is_empty() {
            return None;
        }
        let text = self.rewrite(text);
        match Condition::parse(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                self.problem("survey", row, format!("{column} `{text}`: {e}"));
                None
            }
        }
    }

    fn survey(&mut self, sheet: &Sheet, default_language: &str) -> Survey {
        let mut out = Survey {
            sections: Vec::new(),
            repeats: BTreeMap::new(),
            filter_columns: BTreeSet::new(),
            or_other_lists: BTreeSet::new(),
            loops: Vec::new(),
        };
        if sheet.too_long() {
            self.problem("survey", 0, format!("more than {MAX_ROWS} rows"));
            return out;
        }
        let type_column = sheet.column("type");
        let name_column = sheet.column("name");
        if type_column.is_none() || name_column.is_none() {
            self.problem("survey", sheet.first_row, "needs the columns type and name");
            return out;
        }
        let mut problems = Vec::new();
        let label_columns = sheet.language_columns("label", default_language, &mut problems);
        let hint_columns = sheet.language_columns("hint", default_language, &mut problems);
        let message_columns =
            sheet.language_columns("constraint_message", default_language, &mut problems);
        self.problems.extend(problems);
        let column = |name: &str| sheet.column(name);
        let (required_column, relevant_column, constraint_column) =
            (column("required"), column("relevant"), column("constraint"));
        let (calculation_column, default_column, filter_column) = (
            column("calculation"),
            column("default"),
            column("choice_filter"),
        );
        let core_column = column("fieldcase::core");
        let count_column = column("repeat_count");
        let unsupported: Vec<(usize, &str)> = UNSUPPORTED_COLUMNS
            .iter()
            .filter_map(|name| sheet.column(name).map(|c| (c, *name)))
            .collect();
        let mut groups: Vec<Group> = Vec::new();
        // The section being filled; fields outside groups gather in sections without id.
        let mut current: Option<Section> = None;
        for (row_number, row) in sheet.data() {
            let name = get(row, name_column);
            for (column, column_name) in &unsupported {
                if !get(row, Some(*column)).is_empty() {
                    self.problem(
                        "survey",
                        row_number,
                        format!("the {column_name} column is not supported"),
                    );
                }
            }
            let relevant = self.condition(row_number, "relevant", get(row, relevant_column));
            let kind = match row_type(get(row, type_column)) {
                Ok(kind) => kind,
                Err(message) => {
                    self.problem("survey", row_number, message);
                    continue;
                }
            };
            let count_text = get(row, count_column);
            if !count_text.is_empty() && kind != RowType::BeginRepeat {
                self.problem(
                    "survey",
                    row_number,
                    "repeat_count belongs on a begin repeat row",
                );
            }
            let (field_type, list, or_other) = match kind {
                RowType::Metadata => continue,
                RowType::BeginRepeat => {
                    let Some(id) = self.field_id(name, row_number) else {
                        continue;
                    };
                    let opened = self.begin_repeat(
                        &mut out.repeats,
                        &groups,
                        RepeatRow {
                            id,
                            label: labels(row, &label_columns),
                            relevant: relevant.map(|c| c.text),
                            count: count_text,
                            row: row_number,
                        },
                    );
                    if let Some(group) = opened {
                        out.sections.extend(current.take());
                        groups.push(group);
                    }
                    continue;
                }
                RowType::EndRepeat => {
                    match groups.pop() {
                        Some(g) if g.is_repeat => {}
                        Some(g) => self.problem(
                            "survey",
                            row_number,
                            format!("end repeat, but group {} is open: close it first", g.id),
                        ),
                        None => {
                            self.problem("survey", row_number, "end repeat without begin repeat")
                        }
                    }
                    out.sections.extend(current.take());
                    continue;
                }
                RowType::BeginGroup | RowType::BeginLoop { .. } => {
                    let Some(id) = self.field_id(name, row_number) else {
                        continue;
                    };
                    let mut loop_list = match kind {
                        RowType::BeginLoop { list } => Some(list),
                        _ => None,
                    };
                    if loop_list.is_some()
                        && groups.iter().any(|g| g.is_repeat || g.loop_over.is_some())
                    {
                        self.problem(
                            "survey",
                            row_number,
                            "a loop inside a repeat or another loop is not supported",
                        );
                        loop_list = None;
                    }
                    if groups.len() >= MAX_GROUP_DEPTH {
                        self.problem(
                            "survey",
                            row_number,
                            format!("groups nest more than {MAX_GROUP_DEPTH} deep"),
                        );
                        continue;
                    }
                    let outer = groups.last().and_then(|g| g.relevant.clone());
                    let relevant = match (outer, relevant.map(|c| c.text)) {
                        (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
                        (a, b) => a.or(b),
                    };
                    let group = Group {
                        id: id.clone(),
                        label: labels(row, &label_columns),
                        relevant,
                        continued: 0,
                        repeat: groups.last().and_then(|g| g.repeat.clone()),
                        is_repeat: false,
                        loop_over: None,
                    };
                    out.sections.extend(current.take());
                    let group = Group {
                        loop_over: loop_list.map(|list| (list, out.sections.len(), row_number)),
                        ..group
                    };
                    current = self.section(&group, Some(id), row_number);
                    groups.push(group);
                    continue;
                }
                RowType::EndGroup => {
                    match groups.pop() {
                        None => {
                            self.problem("survey", row_number, "end_group without begin_group");
                            continue;
                        }
                        Some(g) if g.is_repeat => self.problem(
                            "survey",
                            row_number,
                            format!("end_group closes repeat {}: write end repeat", g.id),
                        ),
                        Some(g) if g.loop_over.is_some() => self.problem(
                            "survey",
                            row_number,
                            format!("end_group closes loop {}: write end loop", g.id),
                        ),
                        Some(_) => {}
                    }
                    out.sections.extend(current.take());
                    continue;
                }
                RowType::EndLoop => {
                    out.sections.extend(current.take());
                    match groups.pop() {
                        Some(Group {
                            loop_over: Some((list, first, row)),
                            ..
                        }) => out.loops.push(LoopSpan {
                            list,
                            row,
                            sections: first..out.sections.len(),
                        }),
                        Some(g) => self.problem(
                            "survey",
                            row_number,
                            format!("end loop, but {} is open: close it first", g.id),
                        ),
                        None => self.problem("survey", row_number, "end loop without begin loop"),
                    }
                    continue;
                }
                RowType::Field {
                    field_type,
                    list,
                    or_other,
                } => (field_type, list, or_other),
            };
            let Some(id) = self.field_id(name, row_number) else {
                continue;
            };
            let required_text = get(row, required_column);
            let (required, required_if) = match required_text.to_lowercase().as_str() {
                "" | "no" | "false" | "false()" | "0" => (false, None),
                "yes" | "true" | "true()" | "1" => (true, None),
                // An expression: required when it holds.
                _ => (false, self.condition(row_number, "required", required_text)),
            };
            let constraint = self.condition(row_number, "constraint", get(row, constraint_column));
            let calculation =
                self.condition(row_number, "calculation", get(row, calculation_column));
            let choice_filter =
                self.condition(row_number, "choice_filter", get(row, filter_column));
            if let Some(filter) = &choice_filter {
                out.filter_columns.extend(filter.expr.names());
            }
            let default = Some(get(row, default_column))
                .filter(|d| !d.is_empty())
                .map(str::to_owned);
            let core = Some(get(row, core_column))
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            let mut fields = vec![Field {
                id: id.clone(),
                field_type,
                choices: list.clone(),
                label: labels(row, &label_columns),
                hint: labels(row, &hint_columns),
                required,
                required_if,
                relevant,
                constraint,
                constraint_message: labels(row, &message_columns),
                core,
                calculation,
                default,
                choice_filter,
            }];
            if or_other {
                if let Some(list) = list {
                    out.or_other_lists.insert(list);
                }
                match self.other_field(&id, &fields[0].label, default_language, row_number) {
                    Some(other) => fields.push(other),
                    None => continue,
                }
            }
            let section = match &mut current {
                Some(section) => section,
                None => {
                    let section = match groups.last_mut() {
                        // Fields directly in a repeat: a section without id of the repeat.
                        Some(group) if group.is_repeat => Some(Section {
                            id: None,
                            label: Labels::new(),
                            relevant: None,
                            repeat: group.repeat.clone(),
                            fields: Vec::new(),
                        }),
                        // Fields after an inner group: the outer group continues.
                        Some(group) => {
                            group.continued += 1;
                            let id = format!("{}_{}", group.id, group.continued + 1);
                            let id = FieldId::parse(&id).ok();
                            let group = &*group;
                            self.section(group, id, row_number)
                        }
                        None => Some(Section {
                            id: None,
                            label: Labels::new(),
                            relevant: None,
                            repeat: None,
                            fields: Vec::new(),
                        }),
                    };
                    current.insert(section.unwrap_or(Section {
                        id: None,
                        label: Labels::new(),
                        relevant: None,
                        repeat: None,
                        fields: Vec::new(),
                    }))
                }
            };
            section.fields.extend(fields);
        }
        if let Some(group) = groups.first() {
            let end = match (group.is_repeat, &group.loop_over) {
                (true, _) => "end repeat",
                (false, Some(_)) => "end loop",
                (false, None) => "end_group",
            };
            self.problem("survey", 0, format!("group {} has no {end}", group.id));
        }
        out.sections.extend(current);
        out
    }

    /// A section for a group (or the continuation of one), `None` when its id is unusable.
    fn section(&mut self, group: &Group, id: Option<FieldId>, row: u32) -> Option<Section> {
        let Some(id) = id else {
            self.problem(
                "survey",
                row,
                format!(
                    "group {}: continuing it after an inner group needs a shorter name",
                    group.id
                ),
            );
            return None;
        };
        let relevant = match &group.relevant {
            Some(text) => match Condition::parse(text) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.problem(
                        "survey",
                        row,
                        format!("the conditions of the groups around it, together: {e}"),
                    );
                    None
                }
            },
            None => None,
        };
        Some(Section {
            id: Some(id),
            label: group.label.clone(),
            relevant,
            repeat: group.repeat.clone(),
            fields: Vec::new(),
        })
    }

    /// The text field `or_other` adds after a select: `<name>_other`, shown when `other` is
    /// chosen, as pyxform does.
    fn other_field(
        &mut self,
        id: &FieldId,
        label: &Labels,
        default_language: &str,
        row: u32,
    ) -> Option<Field> {
        let Ok(other_id) = FieldId::parse(&format!("{id}_other")) else {
            self.problem(
                "survey",
                row,
                "or_other: the name is too long to add `_other` to it",
            );
            return None;
        };
        let mut languages: BTreeSet<String> = label.keys().cloned().collect();
        languages.insert(default_language.to_owned());
        Some(Field {
            id: other_id,
            field_type: FieldType::Text,
            choices: None,
            label: languages
                .into_iter()
                .map(|l| (l, SPECIFY_OTHER_LABEL.to_owned()))
                .collect(),
            hint: Labels::new(),
            required: false,
            required_if: None,
            relevant: Condition::parse(&format!("selected(${{{id}}}, '{OTHER_CODE}')")).ok(),
            constraint: None,
            constraint_message: Labels::new(),
            core: None,
            calculation: None,
            default: None,
            choice_filter: None,
        })
    }

    fn field_id(&mut self, name: &str, row: u32) -> Option<FieldId> {
        match normalize_id(name) {
            Some(id) => Some(id),
            None => {
                self.problem("survey", row, "name: needs at least one letter or digit");
                None
            }
        }
    }
}
