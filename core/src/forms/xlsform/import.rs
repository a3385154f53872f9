//! Reading an XLSForm workbook into a form definition.
//!
//! Every problem of every row is collected before giving up, so an admin fixes a workbook in
//! one pass. A cell's content may appear in an error only when it is part of the form's
//! design (a type, a column name, an expression); workbooks hold no answers.

use super::{language_code, Problem, XlsFormError};
use crate::forms::definition::{
    valid_code, Choice, Condition, Field, FieldType, FormDefinition, Labels, Section,
};
use crate::model::FieldId;
use calamine::{open_workbook_from_rs, Data, Range, Reader, Xlsx};
use std::collections::BTreeMap;
use std::io::Cursor;

/// Largest workbook accepted, in bytes: a form of a thousand questions in several languages is
/// well under 1 MiB; the bound stops a zip bomb's outer layer.
pub const MAX_XLSFORM_BYTES: usize = 10 * 1024 * 1024;

/// Most rows read from one sheet (fields, groups, choices).
const MAX_ROWS: usize = 20_000;

/// Survey columns whose meaning fieldcase does not support: a row that fills one is refused
/// rather than imported with the column silently ignored.
const UNSUPPORTED_COLUMNS: [&str; 6] = [
    "choice_filter",
    "calculation",
    "repeat_count",
    "default",
    "read_only",
    "trigger",
];

/// Reads an `.xlsx` XLSForm.
pub fn import(bytes: &[u8]) -> Result<FormDefinition, XlsFormError> {
    if bytes.len() > MAX_XLSFORM_BYTES {
        return Err(XlsFormError::TooLarge);
    }
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
    let mut reader = Importer { problems };
    let settings = reader.settings(settings.as_ref());
    let choice_lists = choices
        .as_ref()
        .map(|c| reader.choices(c, &settings.default_language))
        .unwrap_or_default();
    let sections = reader.survey(&survey, &settings.default_language);
    if !reader.problems.is_empty() {
        return Err(XlsFormError::Problems(reader.problems));
    }
    let Some(id) = settings.id else {
        return Err(XlsFormError::Problems(vec![Problem {
            sheet: "settings",
            row: 0,
            message: "form_id is required".into(),
        }]));
    };
    let mut title = settings.title;
    if !title.contains_key(&settings.default_language) {
        title.insert(settings.default_language.clone(), id.to_string());
    }
    let form = FormDefinition {
        id,
        version: settings.version.unwrap_or(1),
        title,
        default_language: settings.default_language,
        choice_lists,
        sections,
    };
    form.check()?;
    Ok(form)
}

/// A sheet as text cells, with its header.
struct Sheet {
    name: &'static str,
    /// The spreadsheet row number of `rows[0]` (the header).
    first_row: u32,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Sheet {
    fn new(name: &'static str, range: &Range<Data>) -> Sheet {
        let first_row = range.start().map_or(1, |(r, _)| r + 1);
        let first_col = range.start().map_or(0, |(_, c)| c as usize);
        let mut rows = range.rows().take(MAX_ROWS + 1).map(|row| {
            let mut cells: Vec<String> = vec![String::new(); first_col];
            cells.extend(row.iter().map(cell_text));
            cells
        });
        let header = rows
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.trim().to_owned())
            .collect();
        Sheet {
            name,
            first_row,
            header,
            rows: rows.collect(),
        }
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
    }

    /// The columns `base` and `base::<language>`, by language code (plain `base` is the
    /// default language).
    fn language_columns(
        &self,
        base: &str,
        default_language: &str,
        problems: &mut Vec<Problem>,
    ) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, header) in self.header.iter().enumerate() {
            let lower = header.to_ascii_lowercase();
            if lower == base {
                out.push((i, default_language.to_owned()));
            } else if let Some(language) = lower.strip_prefix(&format!("{base}::")) {
                match language_code(&header[header.len() - language.len()..]) {
                    Some(code) => out.push((i, code)),
                    None => problems.push(Problem {
                        sheet: self.name,
                        row: self.first_row,
                        message: format!(
                            "column `{header}`: cannot tell the language code; write \
                             {base}::Name (code), as in {base}::French (fr)"
                        ),
                    }),
                }
            }
        }
        out
    }

    /// The data rows with their spreadsheet row numbers, skipping blank rows.
    fn data(&self) -> impl Iterator<Item = (u32, &Vec<String>)> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| (self.first_row + 1 + i as u32, r))
            .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
    }

    fn too_long(&self) -> bool {
        self.rows.len() > MAX_ROWS
    }
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // Spreadsheets store whole numbers (choice codes 1, 2, a version 3) as floats.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Data::DateTime(d) => d.to_string(),
    }
}

fn get(row: &[String], column: Option<usize>) -> &str {
    column.and_then(|c| row.get(c)).map_or("", |s| s.trim())
}

fn labels(row: &[String], columns: &[(usize, String)]) -> Labels {
    columns
        .iter()
        .filter_map(|(c, language)| {
            let text = row.get(*c)?.trim();
            (!text.is_empty()).then(|| (language.clone(), text.to_owned()))
        })
        .collect()
}

struct Settings {
    id: Option<FieldId>,
    version: Option<u32>,
    default_language: String,
    title: Labels,
}

struct Importer {
    problems: Vec<Problem>,
}

impl Importer {
    fn problem(&mut self, sheet: &'static str, row: u32, message: impl Into<String>) {
        self.problems.push(Problem {
            sheet,
            row,
            message: message.into(),
        });
    }

    fn settings(&mut self, sheet: Option<&Sheet>) -> Settings {
        let mut settings = Settings {
            id: None,
            version: None,
            default_language: "en".to_owned(),
            title: Labels::new(),
        };
        let Some(sheet) = sheet else {
            self.problem(
                "settings",
                0,
                "the workbook has no settings sheet (form_id is required)",
            );
            return settings;
        };
        let Some((row_number, row)) = sheet.data().next() else {
            self.problem(
                "settings",
                0,
                "the settings sheet has no row under its header",
            );
            return settings;
        };
        let language = get(row, sheet.column("default_language"));
        if !language.is_empty() {
            match language_code(language) {
                Some(code) => settings.default_language = code,
                None => self.problem(
                    "settings",
                    row_number,
                    "default_language: write a language code (en) or Name (code)",
                ),
            }
        }
        let id = get(row, sheet.column("form_id"));
        if !id.is_empty() {
            match FieldId::parse(id) {
                Ok(id) => settings.id = Some(id),
                Err(_) => self.problem(
                    "settings",
                    row_number,
                    "form_id: a letter a-z, then up to 63 of a-z, 0-9 and _",
                ),
            }
        }
        let version = get(row, sheet.column("version"));
        if !version.is_empty() {
            match version.parse::<u32>() {
                Ok(v) if v >= 1 => settings.version = Some(v),
                _ => self.problem(
                    "settings",
                    row_number,
                    "version: a whole number from 1 to 4294967295",
                ),
            }
        }
        let mut problems = Vec::new();
        let title_columns =
            sheet.language_columns("form_title", &settings.default_language, &mut problems);
        self.problems.extend(problems);
        settings.title = labels(row, &title_columns);
        settings
    }

    fn choices(&mut self, sheet: &Sheet, default_language: &str) -> BTreeMap<String, Vec<Choice>> {
        let mut lists: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
        if sheet.too_long() {
            self.problem("choices", 0, format!("more than {MAX_ROWS} rows"));
            return lists;
        }
        let list_column = sheet
            .column("list_name")
            .or_else(|| sheet.column("list name"));
        let name_column = sheet.column("name");
        if list_column.is_none() || name_column.is_none() {
            self.problem(
                "choices",
                sheet.first_row,
                "needs the columns list_name and name",
            );
            return lists;
        }
        let mut problems = Vec::new();
        let label_columns = sheet.language_columns("label", default_language, &mut problems);
        self.problems.extend(problems);
        for (row_number, row) in sheet.data() {
            let list = get(row, list_column);
            let code = get(row, name_column);
            if !valid_code(list) || !valid_code(code) {
                self.problem(
                    "choices",
                    row_number,
                    "list_name and name are 1 to 64 of A-Z, a-z, 0-9, _, . and -",
                );
                continue;
            }
            lists.entry(list.to_owned()).or_default().push(Choice {
                code: code.to_owned(),
                label: labels(row, &label_columns),
            });
        }
        lists
    }

    fn survey(&mut self, sheet: &Sheet, default_language: &str) -> Vec<Section> {
        let mut sections: Vec<Section> = Vec::new();
        if sheet.too_long() {
            self.problem("survey", 0, format!("more than {MAX_ROWS} rows"));
            return sections;
        }
        let type_column = sheet.column("type");
        let name_column = sheet.column("name");
        if type_column.is_none() || name_column.is_none() {
            self.problem("survey", sheet.first_row, "needs the columns type and name");
            return sections;
        }
        let mut problems = Vec::new();
        let label_columns = sheet.language_columns("label", default_language, &mut problems);
        let hint_columns = sheet.language_columns("hint", default_language, &mut problems);
        let message_columns =
            sheet.language_columns("constraint_message", default_language, &mut problems);
        self.problems.extend(problems);
        let required_column = sheet.column("required");
        let relevant_column = sheet.column("relevant");
        let constraint_column = sheet.column("constraint");
        let core_column = sheet
            .column("fieldcase::core")
            .or_else(|| sheet.column("bind::fieldcase:core"));
        let unsupported: Vec<(usize, &str)> = UNSUPPORTED_COLUMNS
            .iter()
            .filter_map(|name| sheet.column(name).map(|c| (c, *name)))
            .collect();
        // The open group, if any; fields outside groups gather in sections without id.
        let mut open: Option<Section> = None;
        for (row_number, row) in sheet.data() {
            let type_text = get(row, type_column);
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
            let condition = |this: &mut Self, column: Option<usize>, column_name: &str| {
                let text = get(row, column);
                if text.is_empty() {
                    return None;
                }
                match Condition::parse(text) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        this.problem("survey", row_number, format!("{column_name} `{text}`: {e}"));
                        None
                    }
                }
            };
            let relevant = condition(self, relevant_column, "relevant");
            let kind = type_text.split_whitespace().collect::<Vec<_>>();
            let normalized = kind.join(" ").to_ascii_lowercase();
            match normalized.as_str() {
                "begin_group" | "begin group" => {
                    if open.is_some() {
                        self.problem("survey", row_number, "nested groups are not supported");
                        continue;
                    }
                    let Some(id) = self.field_id(name, row_number) else {
                        continue;
                    };
                    open = Some(Section {
                        id: Some(id),
                        label: labels(row, &label_columns),
                        relevant,
                        fields: Vec::new(),
                    });
                    continue;
                }
                "end_group" | "end group" => {
                    match open.take() {
                        Some(section) => sections.push(section),
                        None => self.problem("survey", row_number, "end_group without begin_group"),
                    }
                    continue;
                }
                _ => {}
            }
            let (field_type, choices) = match field_type(&kind) {
                Ok(t) => t,
                Err(message) => {
                    self.problem("survey", row_number, message);
                    continue;
                }
            };
            let Some(id) = self.field_id(name, row_number) else {
                continue;
            };
            let required = match get(row, required_column).to_ascii_lowercase().as_str() {
                "" | "no" | "false" | "false()" | "0" => false,
                "yes" | "true" | "true()" | "1" => true,
                _ => {
                    self.problem(
                        "survey",
                        row_number,
                        "required: yes or no (an expression is not supported)",
                    );
                    false
                }
            };
            let constraint = condition(self, constraint_column, "constraint");
            let core = Some(get(row, core_column))
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            let field = Field {
                id,
                field_type,
                choices,
                label: labels(row, &label_columns),
                hint: labels(row, &hint_columns),
                required,
                relevant,
                constraint,
                constraint_message: labels(row, &message_columns),
                core,
            };
            match &mut open {
                Some(section) => section.fields.push(field),
                None => match sections.last_mut() {
                    Some(last) if last.id.is_none() => last.fields.push(field),
                    _ => sections.push(Section {
                        id: None,
                        label: Labels::new(),
                        relevant: None,
                        fields: vec![field],
                    }),
                },
            }
        }
        if let Some(section) = open {
            self.problem(
                "survey",
                0,
                format!(
                    "group {} has no end_group",
                    section.id.map(|i| i.to_string()).unwrap_or_default()
                ),
            );
        }
        sections
    }

    fn field_id(&mut self, name: &str, row: u32) -> Option<FieldId> {
        match FieldId::parse(name) {
            Ok(id) => Some(id),
            Err(_) => {
                self.problem(
                    "survey",
                    row,
                    "name: a letter a-z, then up to 63 of a-z, 0-9 and _",
                );
                None
            }
        }
    }
}

/// The field type and choice list of a `type` cell, or why it is not supported.
fn field_type(words: &[&str]) -> Result<(FieldType, Option<String>), String> {
    let first = words
        .first()
        .map(|w| w.to_ascii_lowercase())
        .unwrap_or_default();
    let simple = |t: FieldType| {
        if words.len() == 1 {
            Ok((t, None))
        } else {
            Err(format!("type `{}` takes no list name", words.join(" ")))
        }
    };
    match first.as_str() {
        "" => Err("type is empty".into()),
        "text" => simple(FieldType::Text),
        "integer" | "int" => simple(FieldType::Integer),
        "decimal" => simple(FieldType::Decimal),
        "date" => simple(FieldType::Date),
        "note" => simple(FieldType::Note),
        "yes_no" => simple(FieldType::YesNo),
        "country" => simple(FieldType::Country),
        "partial_date" => simple(FieldType::PartialDate),
        "select_one" | "select_multiple" => {
            let t = if first == "select_one" {
                FieldType::SelectOne
            } else {
                FieldType::SelectMultiple
            };
            match words {
                [_, list] => Ok((t, Some((*list).to_owned()))),
                [_, _, or_other] if or_other.eq_ignore_ascii_case("or_other") => Err(format!(
                    "type `{}`: or_other is not supported",
                    words.join(" ")
                )),
                _ => Err(format!("type `{first}` needs one list name")),
            }
        }
        other => {
            // Known XLSForm types get a plain "not supported"; anything else may be a typo.
            let known = [
                "geopoint",
                "geotrace",
                "geoshape",
                "image",
                "audio",
                "video",
                "file",
                "barcode",
                "calculate",
                "begin_repeat",
                "begin repeat",
                "end_repeat",
                "end repeat",
                "time",
                "datetime",
                "range",
                "rank",
                "acknowledge",
                "hidden",
                "start",
                "end",
                "today",
                "deviceid",
                "username",
                "phonenumber",
                "email",
                "audit",
                "select_one_from_file",
                "select_multiple_from_file",
                "trigger",
                "background-audio",
                "xml-external",
                "csv-external",
                "simserial",
                "subscriberid",
                "begin_group",
                "end_group",
            ];
            let whole = words.join(" ").to_ascii_lowercase();
            if known.contains(&whole.as_str()) || known.contains(&other) {
                Err(format!("type `{whole}` is not supported"))
            } else {
                Err(format!(
                    "type `{whole}` is not an XLSForm type fieldcase knows"
                ))
            }
        }
    }
}
