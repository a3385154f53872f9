//! XLSForm, the spreadsheet form standard of ODK, KoboToolbox and CommCare: import
//! ([`import`], read with calamine) and export ([`export`], written with rust_xlsxwriter).
//!
//! Import reads the `survey`, `choices` and `settings` sheets into a [`FormDefinition`] and
//! checks it; export writes one back, so import → export → import gives an equal definition.
//! What is supported, and what is refused with an error naming the sheet, row and reason, is
//! the table in `docs/forms.md`. Besides XLSForm's own types, import accepts three fieldcase
//! types in the `type` column — `yes_no`, `country` and `partial_date` — and a
//! `fieldcase::core` column (or `bind::fieldcase:core`) mapping a field to a core variable.
//!
//! Only the admin tools and the server build this (feature `xlsform`); phones receive forms
//! as JSON.

mod export;
mod import;
mod sheet;
mod spelling;

pub use export::export;
pub use import::{import, import_named, MAX_GROUP_DEPTH, MAX_XLSFORM_BYTES};

use super::definition::{DefinitionError, FormDefinition};
use std::fmt;

/// One problem at one place of a workbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub sheet: &'static str,
    /// The spreadsheet row, from 1 (the header row is usually 1); 0 for the sheet as a whole.
    pub row: u32,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.row == 0 {
            write!(f, "{}: {}", self.sheet, self.message)
        } else {
            write!(f, "{} row {}: {}", self.sheet, self.row, self.message)
        }
    }
}

/// Why a workbook is not an importable form.
#[derive(Debug, thiserror::Error)]
pub enum XlsFormError {
    #[error("not a readable .xlsx workbook: {0}")]
    Unreadable(String),
    #[error("file larger than {MAX_XLSFORM_BYTES} bytes")]
    TooLarge,
    /// Every problem found, in sheet and row order.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Problems(Vec<Problem>),
    #[error("the form read from the workbook is not valid: {0}")]
    Definition(#[from] DefinitionError),
    #[error("could not write the workbook: {0}")]
    Write(String),
}

/// The conventional names of the languages a column header may name (`label::French (fr)`,
/// or only `label::french`): the languages of the field's forms and the common others.
const LANGUAGE_NAMES: [(&str, &str); 40] = [
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("ar", "Arabic"),
    ("pt", "Portuguese"),
    ("sw", "Swahili"),
    ("am", "Amharic"),
    ("ti", "Tigrinya"),
    ("zh", "Chinese"),
    ("ru", "Russian"),
    ("uk", "Ukrainian"),
    ("ro", "Romanian"),
    ("bg", "Bulgarian"),
    ("sq", "Albanian"),
    ("tr", "Turkish"),
    ("fa", "Persian"),
    ("ps", "Pashto"),
    ("ur", "Urdu"),
    ("hi", "Hindi"),
    ("bn", "Bengali"),
    ("ne", "Nepali"),
    ("th", "Thai"),
    ("my", "Burmese"),
    ("km", "Khmer"),
    ("lo", "Lao"),
    ("vi", "Vietnamese"),
    ("id", "Indonesian"),
    ("ms", "Malay"),
    ("tl", "Tagalog"),
    ("ha", "Hausa"),
    ("yo", "Yoruba"),
    ("ig", "Igbo"),
    ("so", "Somali"),
    ("om", "Oromo"),
    ("lg", "Luganda"),
    ("rw", "Kinyarwanda"),
    ("ln", "Lingala"),
    ("de", "German"),
    ("it", "Italian"),
    ("ku", "Kurdish"),
];

/// The header of a column in a language: `label::French (fr)`.
fn language_column(base: &str, code: &str) -> String {
    match LANGUAGE_NAMES.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => format!("{base}::{name} ({code})"),
        None => format!("{base}::{code}"),
    }
}

/// The language code of a column header's language part, in any case: `French (fr)`, `fr`,
/// `FR`, `french`, `Français (fr)`. A name not in [`LANGUAGE_NAMES`] becomes its own code
/// when it is a short word (`label::Kirundi` → `kirundi`), as pyxform keeps any name.
fn language_code(text: &str) -> Option<String> {
    let text = text.trim();
    if let (Some(open), true) = (text.rfind('('), text.ends_with(')')) {
        let code = text[open + 1..text.len() - 1].trim().to_ascii_lowercase();
        return valid_language(&code).then_some(code);
    }
    if let Some((code, _)) = LANGUAGE_NAMES
        .iter()
        .find(|(code, name)| name.eq_ignore_ascii_case(text) || code.eq_ignore_ascii_case(text))
    {
        return Some((*code).to_owned());
    }
    let code = text.to_ascii_lowercase().replace(['_', ' '], "-");
    (valid_language(&code) && code.starts_with(|c: char| c.is_ascii_lowercase())).then_some(code)
}

fn valid_language(code: &str) -> bool {
    (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The definition's languages, default first.
fn languages(form: &FormDefinition) -> Vec<String> {
    let mut all = std::collections::BTreeSet::new();
    let mut add = |labels: &super::Labels| all.extend(labels.keys().cloned());
    add(&form.title);
    for list in form.choice_lists.values() {
        list.iter().for_each(|c| add(&c.label));
    }
    for repeat in form.repeats.values() {
        add(&repeat.label);
    }
    for section in &form.sections {
        add(&section.label);
        for field in &section.fields {
            add(&field.label);
            add(&field.hint);
            add(&field.constraint_message);
        }
    }
    let mut out = vec![form.default_language.clone()];
    out.extend(all.into_iter().filter(|l| *l != form.default_language));
    out
}
