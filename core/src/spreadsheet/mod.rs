//! Spreadsheets in: reading an agency's existing caseload from CSV and XLSX files into cases.
//!
//! An agency's caseload lives in spreadsheets and exports of older databases, with headers in
//! English or French, dates in whatever format the office's Excel wrote, and codes spelled as
//! people spell them ("F", "Femme", "Victim of trafficking"). This module turns such a file
//! into the flat [`Fields`](crate::model::Fields) of a case:
//!
//! - [`read`]: the file as rows of [`Cell`]s — CSV (comma, semicolon or tab, detected; UTF-8
//!   with or without a BOM, or Latin-1 when asked) streamed row by row, or the first sheet of
//!   an XLSX workbook (feature `spreadsheet-xlsx`).
//! - [`mapping`]: which column feeds which field — common headers recognised without help, a
//!   mapping file (TOML or JSON) for the rest, value labels for codes.
//! - [`convert`]: one cell into one value — dates in several formats and Excel serial dates,
//!   countries by name (English, French) or ISO code, yes/no, numbers with a decimal comma.
//! - [`plan`]: the header row found, each column's target decided, and each data row turned
//!   into fields plus the problems found, by row and column.
//!
//! What it guarantees: a problem names a row, a column (by letter) and a field key with a rule
//! or reason — never the cell's value, which may be a person's name in the wrong column. The
//! store decides what is written (`crate::store::spreadsheet`); this module does no I/O beyond
//! reading the file it is given, and validates nothing a case's own reading would not.

pub mod convert;
pub mod mapping;
pub mod plan;
pub mod read;

pub use mapping::{Mapping, MappingError, Target};
pub use plan::{ColumnPlan, ColumnReport, RowFields, RowProblem};
pub use read::{Encoding, ReadError, SheetReader};

use crate::model::Date;

/// One cell as the file holds it.
#[derive(Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// Text, as written (trimmed later, per target).
    Text(String),
    /// A number cell of a workbook.
    Number(f64),
    /// A TRUE/FALSE cell of a workbook.
    Bool(bool),
    /// A date cell of a workbook (an Excel serial date, already converted).
    Date(Date),
    /// An error cell of a workbook (`#N/A`, `#REF!`…).
    Error,
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Cells hold personal data: Debug tells the kind only.
        f.write_str(match self {
            Cell::Empty => "Empty",
            Cell::Text(_) => "Text(<redacted>)",
            Cell::Number(_) => "Number(<redacted>)",
            Cell::Bool(_) => "Bool(<redacted>)",
            Cell::Date(_) => "Date(<redacted>)",
            Cell::Error => "Error",
        })
    }
}

impl Cell {
    /// Whether the cell holds nothing (blank, or only spaces).
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text, for headers and for hashing a row (numbers as Excel shows them when
    /// whole).
    pub fn as_text(&self) -> String {
        match self {
            Cell::Empty | Cell::Error => String::new(),
            Cell::Text(text) => text.trim().to_owned(),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Cell::Number(n) => n.to_string(),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Cell::Date(d) => d.to_string(),
        }
    }
}

/// Folds a label for matching: accents dropped, lower case, only letters and digits kept, so
/// "Date de naissance", "date_de_naissance" and "DATE DE NAISSANCE " are one label.
pub fn fold(label: &str) -> String {
    deunicode::deunicode(label)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The spreadsheet letter of a 0-based column index: 0 → A, 25 → Z, 26 → AA.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fold_to_letters_and_digits() {
        assert_eq!(fold("Date de naissance "), "datedenaissance");
        assert_eq!(fold("Prénom"), "prenom");
        assert_eq!(fold("Côte d'Ivoire"), "cotedivoire");
        assert_eq!(fold("victim_of_trafficking"), "victimoftrafficking");
    }

    #[test]
    fn columns_have_spreadsheet_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn cells_never_show_their_value_in_debug() {
        let debug = format!("{:?}", Cell::Text("Zaynab".into()));
        assert!(!debug.contains("Zaynab"));
    }
}
