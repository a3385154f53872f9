//! A worksheet read as text: cells as strings (date cells as ISO dates), the header in
//! canonical form (see [`column_name`]), blank rows skipped, each row with its spreadsheet
//! number for errors. Bounded to [`MAX_ROWS`] rows.

use super::spelling::column_name;
use super::{language_code, Problem};
use crate::forms::definition::Labels;
use crate::model::Date;
use calamine::{Data, Range};

/// Most rows read from one sheet (fields, groups, choices).
pub(super) const MAX_ROWS: usize = 20_000;

/// A sheet as text cells, with its header in canonical form.
pub(super) struct Sheet {
    pub(super) name: &'static str,
    /// The spreadsheet row number of `rows[0]` (the header).
    pub(super) first_row: u32,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Sheet {
    pub(super) fn new(name: &'static str, range: &Range<Data>) -> Sheet {
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
            .map(|h| column_name(&h))
            .collect();
        Sheet {
            name,
            first_row,
            header,
            rows: rows.collect(),
        }
    }

    pub(super) fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The columns `base` and `base::<language>`, by language code. A plain `base` is the
    /// default language; where a translated column of the default language also exists, the
    /// translated one wins and the plain one fills its gaps.
    pub(super) fn language_columns(
        &self,
        base: &str,
        default_language: &str,
        problems: &mut Vec<Problem>,
    ) -> Vec<(usize, String)> {
        let mut translated = Vec::new();
        let mut plain = Vec::new();
        for (i, header) in self.header.iter().enumerate() {
            if header == base {
                plain.push((i, default_language.to_owned()));
            } else if let Some(language) = header.strip_prefix(&format!("{base}::")) {
                match language_code(language) {
                    Some(code) => translated.push((i, code)),
                    None => problems.push(Problem {
                        sheet: self.name,
                        row: self.first_row,
                        message: format!(
                            "column `{header}`: cannot tell the language; write \
                             {base}::Name (code), as in {base}::French (fr)"
                        ),
                    }),
                }
            }
        }
        // Plain columns first, so a translated column read later overwrites them.
        plain.extend(translated);
        plain
    }

    /// The data rows with their spreadsheet row numbers, skipping blank rows.
    pub(super) fn data(&self) -> impl Iterator<Item = (u32, &Vec<String>)> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| (self.first_row + 1 + i as u32, r))
            .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
    }

    pub(super) fn too_long(&self) -> bool {
        self.rows.len() > MAX_ROWS
    }
}

/// Days from Excel's day 0 (1899-12-30) to 1970-01-01.
const EXCEL_EPOCH_OFFSET: f64 = 25_569.0;

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty | Data::Error(_) => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // Spreadsheets store whole numbers (choice codes 1, 2, a version 3) as floats.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        // A date cell (a version typed as a date): as ISO text, with the hour if any.
        Data::DateTime(d) => {
            let serial = d.as_f64();
            let day = (serial - EXCEL_EPOCH_OFFSET).floor();
            let date = (day.abs() < 1e7)
                .then(|| Date::from_days_since_epoch(day as i64))
                .flatten();
            match date {
                Some(date) if serial.fract() == 0.0 => date.to_string(),
                Some(date) => {
                    let hour = ((serial.fract() * 24.0).floor() as u32).min(23);
                    format!("{date}T{hour:02}:00")
                }
                None => String::new(),
            }
        }
    }
}

pub(super) fn get(row: &[String], column: Option<usize>) -> &str {
    column.and_then(|c| row.get(c)).map_or("", |s| s.trim())
}

pub(super) fn labels(row: &[String], columns: &[(usize, String)]) -> Labels {
    let mut out = Labels::new();
    for (c, language) in columns {
        if let Some(text) = row.get(*c).map(|t| t.trim()).filter(|t| !t.is_empty()) {
            out.insert(language.clone(), text.to_owned());
        }
    }
    out
}
