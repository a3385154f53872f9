//! Writing a form definition as an XLSForm workbook.
//!
//! The workbook has the three sheets import reads, with one `label::Name (code)` column per
//! language (default language first), so what is exported imports back to an equal
//! definition and opens in XLSForm tools for editing.

use super::{language_column, languages, XlsFormError};
use crate::forms::definition::{Condition, Field, FormDefinition, Labels};
use crate::model::FieldId;
use rust_xlsxwriter::{Workbook, Worksheet};
use std::collections::BTreeSet;

/// The form as `.xlsx` bytes.
pub fn export(form: &FormDefinition) -> Result<Vec<u8>, XlsFormError> {
    let write_error = |e: rust_xlsxwriter::XlsxError| XlsFormError::Write(e.to_string());
    let languages = languages(form);
    let mut book = Workbook::new();

    let mut survey = Sheet::new(book.add_worksheet(), "survey").map_err(write_error)?;
    let mut header = vec!["type".to_owned(), "name".to_owned()];
    for base in ["label", "hint", "constraint_message"] {
        header.extend(languages.iter().map(|l| language_column(base, l)));
    }
    header.extend(
        [
            "required",
            "relevant",
            "constraint",
            "fieldcase::core",
            "calculation",
            "default",
            "choice_filter",
            "repeat_count",
        ]
        .map(str::to_owned),
    );
    survey.row(&header).map_err(write_error)?;
    let per_language = |labels: &Labels| -> Vec<String> {
        languages
            .iter()
            .map(|l| labels.get(l).cloned().unwrap_or_default())
            .collect()
    };
    let blank = || vec![String::new(); languages.len()];
    let text = |c: &Option<Condition>| c.as_ref().map(|c| c.text.clone()).unwrap_or_default();
    let mut open_repeat: Option<&FieldId> = None;
    for section in &form.sections {
        // A repeat's consecutive sections are written inside one begin/end repeat.
        if section.repeat.as_ref() != open_repeat {
            if open_repeat.is_some() {
                survey
                    .row(&["end_repeat".to_owned()])
                    .map_err(write_error)?;
            }
            if let Some((id, repeat)) = section
                .repeat
                .as_ref()
                .and_then(|id| form.repeats.get_key_value(id))
            {
                let mut row = vec!["begin_repeat".to_owned(), id.to_string()];
                row.extend(per_language(&repeat.label));
                row.extend(blank());
                row.extend(blank());
                row.extend([String::new(), text(&repeat.relevant)]);
                row.extend(vec![String::new(); 5]);
                row.push(text(&repeat.count));
                survey.row(&row).map_err(write_error)?;
            }
            open_repeat = section.repeat.as_ref();
        }
        if let Some(id) = &section.id {
            let mut row = vec!["begin_group".to_owned(), id.to_string()];
            row.extend(per_language(&section.label));
            row.extend(blank());
            row.extend(blank());
            let relevant = section.relevant.as_ref().map(|c| c.text.clone());
            row.extend([String::new(), relevant.unwrap_or_default()]);
            survey.row(&row).map_err(write_error)?;
        }
        for field in &section.fields {
            survey
                .row(&field_row(field, &per_language))
                .map_err(write_error)?;
        }
        if section.id.is_some() {
            survey.row(&["end_group".to_owned()]).map_err(write_error)?;
        }
    }
    if open_repeat.is_some() {
        survey
            .row(&["end_repeat".to_owned()])
            .map_err(write_error)?;
    }

    let mut choices = Sheet::new(book.add_worksheet(), "choices").map_err(write_error)?;
    let mut header = vec!["list_name".to_owned(), "name".to_owned()];
    header.extend(languages.iter().map(|l| language_column("label", l)));
    let columns: BTreeSet<&String> = form
        .choice_lists
        .values()
        .flatten()
        .flat_map(|c| c.columns.keys())
        .collect();
    header.extend(columns.iter().map(|c| (*c).clone()));
    choices.row(&header).map_err(write_error)?;
    for (list, items) in &form.choice_lists {
        for choice in items {
            let mut row = vec![list.clone(), choice.code.clone()];
            row.extend(per_language(&choice.label));
            row.extend(
                columns
                    .iter()
                    .map(|c| choice.columns.get(*c).cloned().unwrap_or_default()),
            );
            choices.row(&row).map_err(write_error)?;
        }
    }

    let mut settings = Sheet::new(book.add_worksheet(), "settings").map_err(write_error)?;
    let mut header = vec![
        "form_id".to_owned(),
        "version".to_owned(),
        "default_language".to_owned(),
    ];
    header.extend(languages.iter().map(|l| language_column("form_title", l)));
    settings.row(&header).map_err(write_error)?;
    let mut row = vec![
        form.id.to_string(),
        form.version.to_string(),
        form.default_language.clone(),
    ];
    row.extend(per_language(&form.title));
    settings.row(&row).map_err(write_error)?;

    book.save_to_buffer().map_err(write_error)
}

fn field_row(field: &Field, per_language: &dyn Fn(&Labels) -> Vec<String>) -> Vec<String> {
    let type_text = match &field.choices {
        Some(list) => format!("{} {list}", field.field_type),
        None => field.field_type.to_string(),
    };
    let mut row = vec![type_text, field.id.to_string()];
    row.extend(per_language(&field.label));
    row.extend(per_language(&field.hint));
    row.extend(per_language(&field.constraint_message));
    row.push(match (&field.required_if, field.required) {
        (Some(c), _) => c.text.clone(),
        (None, true) => "yes".to_owned(),
        (None, false) => String::new(),
    });
    row.push(
        field
            .relevant
            .as_ref()
            .map(|c| c.text.clone())
            .unwrap_or_default(),
    );
    row.push(
        field
            .constraint
            .as_ref()
            .map(|c| c.text.clone())
            .unwrap_or_default(),
    );
    row.push(field.core.clone().unwrap_or_default());
    let text = |c: &Option<Condition>| c.as_ref().map(|c| c.text.clone()).unwrap_or_default();
    row.push(text(&field.calculation));
    row.push(field.default.clone().unwrap_or_default());
    row.push(text(&field.choice_filter));
    row
}

/// A worksheet written row by row, as text.
struct Sheet<'a> {
    sheet: &'a mut Worksheet,
    next_row: u32,
}

impl<'a> Sheet<'a> {
    fn new(sheet: &'a mut Worksheet, name: &str) -> Result<Self, rust_xlsxwriter::XlsxError> {
        sheet.set_name(name)?;
        Ok(Sheet { sheet, next_row: 0 })
    }

    fn row(&mut self, cells: &[String]) -> Result<(), rust_xlsxwriter::XlsxError> {
        for (column, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                self.sheet
                    .write_string(self.next_row, column as u16, text)?;
            }
        }
        self.next_row += 1;
        Ok(())
    }
}
