//! The header row found, each column's target decided, and each data row turned into the flat
//! fields of a case with the problems found on the way.
//!
//! The header row is the row, among the first [`MAX_HEADER_SCAN_ROWS`], whose cells name the
//! most known columns (or the one the mapping fixes). A header split over two rows — a merged
//! group label above ("Identity" over "Given name" and "Family name"), or a label merged down
//! two rows — is read as one: each column's label is tried as "group label", then as its own
//! label, then as the group label alone when its own cell is empty. A second column with the
//! same single-valued target is reported and ignored rather than letting two cells fight.
//!
//! A row becomes [`RowFields`]: the fields the case model reads, plus [`RowProblem`]s for cells
//! that could not be read (by row, column letter and target; never the value). Composite
//! fields are assembled here: `consent.assistance` from its given/date/recorded-by columns
//! (the date defaults to the intake date, the recorder to the mapping's default or else the
//! importing user), `document_numbers` from one column per document type, sets from a list
//! column or yes/no columns per code; an `age_estimate` is dated by the intake date unless a
//! column dates it. Blank rows are the caller's to skip.

use super::convert::{self, CellProblem, DateOrder, Labels};
use super::mapping::{codes_of, is_set, Mapping, Recognised, Target};
use super::{column_letter, Cell};
use crate::model::keys::*;
use crate::model::Fields;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Rows looked at for the header row: title rows, notes and a two-row header fit easily.
pub const MAX_HEADER_SCAN_ROWS: usize = 10;

/// One problem of one row: where, which target or field, and why — never the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// The row number as the file numbers it (1-based).
    pub row: u64,
    /// The column letter, when one cell is at fault.
    pub column: Option<String>,
    /// The target or field key at fault.
    pub field: String,
    /// The rule or reason, from static text.
    pub reason: String,
    /// Whether review mode may import the row anyway: a rule between fields that the source
    /// could not have known (a guardian missing from consent), not an unreadable value.
    pub reviewable: bool,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(column) => write!(
                f,
                "row {}, column {column} ({}): {}",
                self.row, self.field, self.reason
            ),
            None => write!(f, "row {}, {}: {}", self.row, self.field, self.reason),
        }
    }
}

/// What one column became, for the dry run's report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ColumnReport {
    /// The column letter.
    pub column: String,
    /// The header as the file writes it (with its group label, for a two-row header).
    pub header: String,
    /// The target, or `None` when the column is not read.
    pub target: Option<String>,
    /// How the target was found, or why the column is not read.
    pub how: String,
}

/// A data row read into fields.
#[derive(Clone, PartialEq)]
pub struct RowFields {
    pub row: u64,
    pub fields: Fields,
    pub problems: Vec<RowProblem>,
}

impl std::fmt::Debug for RowFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFields")
            .field("row", &self.row)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("problems", &self.problems)
            .finish()
    }
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no header row found: none of the first {MAX_HEADER_SCAN_ROWS} rows names a known column; give a mapping file (docs/spreadsheet-import.md)")]
    NoHeader,
    #[error("the mapping's header_row {0} is not among the file's first {MAX_HEADER_SCAN_ROWS} non-blank rows")]
    HeaderRowNotFound(u32),
    #[error("defaults: {target}: {reason}")]
    BadDefault { target: String, reason: CellProblem },
}

struct PlannedColumn {
    index: usize,
    header: String,
    target: Option<(Target, Recognised)>,
    /// The earlier column with the same single-valued target, when this one is ignored for it.
    duplicate_of: Option<usize>,
}

/// The columns of a file and how each is read.
pub struct ColumnPlan {
    pub header_row: u64,
    columns: Vec<PlannedColumn>,
    date_order: DateOrder,
    labels: Labels,
    defaults: Vec<(Target, Cell)>,
    /// Who recorded an imported consent, when neither a column nor a default says.
    recorder: String,
}

impl std::fmt::Debug for ColumnPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnPlan")
            .field("header_row", &self.header_row)
            .field("columns", &self.columns.len())
            .finish_non_exhaustive()
    }
}

impl ColumnPlan {
    /// Finds the header row among `head` (the file's first non-blank rows with their
    /// numbers) and each column's target. `recorder` is the importing user's id.
    pub fn detect(
        head: &[(u64, Vec<Cell>)],
        mapping: &Mapping,
        recorder: &str,
    ) -> Result<ColumnPlan, PlanError> {
        let candidates = head.len().min(MAX_HEADER_SCAN_ROWS);
        let planned: Vec<(u64, Vec<PlannedColumn>)> = (0..candidates)
            .map(|i| {
                let group = (i > 0).then(|| carried_forward(&head[i - 1].1));
                (
                    head[i].0,
                    plan_columns(&head[i].1, group.as_deref(), mapping),
                )
            })
            .collect();
        let score =
            |columns: &[PlannedColumn]| columns.iter().filter(|c| c.target.is_some()).count();
        let chosen = match mapping.header_row {
            Some(row) => planned
                .into_iter()
                .find(|(number, _)| *number == u64::from(row))
                .ok_or(PlanError::HeaderRowNotFound(row))?,
            None => {
                let best = planned
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, (_, columns))| (score(columns), std::cmp::Reverse(*i)))
                    .map(|(i, _)| i)
                    .filter(|&i| score(&planned[i].1) > 0)
                    .ok_or(PlanError::NoHeader)?;
                planned.into_iter().nth(best).ok_or(PlanError::NoHeader)?
            }
        };
        let (header_row, mut columns) = chosen;
        mark_duplicates(&mut columns);
        let plan = ColumnPlan {
            header_row,
            columns,
            date_order: mapping.date_order,
            labels: mapping.labels.clone(),
            defaults: mapping.defaults.clone(),
            recorder: recorder.to_owned(),
        };
        for (target, cell) in &plan.defaults {
            plan.read_cell(target, cell, &mut Assembly::default())
                .map_err(|reason| PlanError::BadDefault {
                    target: target.to_string(),
                    reason,
                })?;
        }
        Ok(plan)
    }

    /// What each column became.
    pub fn report(&self) -> Vec<ColumnReport> {
        self.columns
            .iter()
            .filter(|c| !c.header.is_empty() || c.target.is_some())
            .map(|c| {
                let (target, how) = match (&c.target, c.duplicate_of) {
                    (Some((target, _)), Some(first)) => (
                        None,
                        format!(
                            "ignored: {target} already comes from column {}",
                            column_letter(first)
                        ),
                    ),
                    (Some((Target::Ignore, how)), None) => {
                        (None, format!("ignored ({})", how.as_str()))
                    }
                    (Some((target, how)), None) => {
                        (Some(target.to_string()), how.as_str().to_owned())
                    }
                    (None, _) => (
                        None,
                        "not recognised: ignored (name it in a mapping file to import it)"
                            .to_owned(),
                    ),
                };
                ColumnReport {
                    column: column_letter(c.index),
                    header: c.header.clone(),
                    target,
                    how,
                }
            })
            .collect()
    }

    /// Reads one data row into fields and problems.
    pub fn convert_row(&self, row: u64, cells: &[Cell]) -> RowFields {
        let mut assembly = Assembly::default();
        let mut problems = Vec::new();
        for column in &self.columns {
            let Some((target, _)) = &column.target else {
                continue;
            };
            if column.duplicate_of.is_some() || *target == Target::Ignore {
                continue;
            }
            let cell = cells.get(column.index).unwrap_or(&Cell::Empty);
            if convert::is_missing(cell) {
                continue;
            }
            if let Err(reason) = self.read_cell(target, cell, &mut assembly) {
                problems.push(RowProblem {
                    row,
                    column: Some(column_letter(column.index)),
                    field: target.to_string(),
                    reason: reason.to_string(),
                    reviewable: false,
                });
            }
        }
        for (target, cell) in &self.defaults {
            if !assembly.has(target) {
                // Checked when the plan was made.
                let _ = self.read_cell(target, cell, &mut assembly);
            }
        }
        let fields = assembly.finish(&self.recorder, row, &mut problems);
        RowFields {
            row,
            fields,
            problems,
        }
    }

    /// The column letters whose target writes the field `key` (for the case model's own
    /// problems, which name fields).
    pub fn columns_of(&self, key: &str) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| c.duplicate_of.is_none())
            .filter(|c| c.target.as_ref().is_some_and(|(t, _)| t.field_key() == key))
            .map(|c| column_letter(c.index))
            .collect()
    }

    fn read_cell(
        &self,
        target: &Target,
        cell: &Cell,
        out: &mut Assembly,
    ) -> Result<(), CellProblem> {
        let order = self.date_order;
        match target {
            Target::Ignore => {}
            Target::ConsentGiven => out.consent_given = Some(convert::yes_no(cell)?),
            Target::ConsentDate => out.consent_date = Some(convert::date(cell, order, false)?),
            Target::ConsentRecordedBy => out.recorded_by = Some(convert::text(cell)?),
            Target::Document(doc_type) => out
                .documents
                .push(json!({"type": doc_type.as_str(), "number": convert::text(cell)?})),
            Target::CodeFlag { field, code } => {
                let set = out.sets.entry(field).or_default();
                if convert::yes_no(cell)? {
                    set.insert(code);
                }
            }
            Target::Field(key) if is_set(key) => {
                let allowed = codes_of(key).unwrap_or(&[]);
                let text = convert::text(cell)?;
                let mut codes = BTreeSet::new();
                for item in text
                    .split([';', ',', '|', '/', '\n'])
                    .filter(|i| !i.trim().is_empty())
                {
                    codes.insert(convert::code(item, key, allowed, &self.labels)?);
                }
                out.sets.entry(key).or_default().extend(codes);
            }
            Target::Field(key) => {
                let value = self.read_field(key, cell)?;
                out.fields.insert((*key).to_owned(), value);
            }
        }
        Ok(())
    }

    fn read_field(&self, key: &'static str, cell: &Cell) -> Result<Value, CellProblem> {
        let order = self.date_order;
        Ok(match key {
            DATE_OF_BIRTH => Value::from(convert::date(cell, order, true)?),
            AGE_ESTIMATED_ON | INTAKE_DATE | RETURN_DATE => {
                Value::from(convert::date(cell, order, false)?)
            }
            AGE_ESTIMATE => Value::from(convert::whole_number(cell)?),
            NATIONALITY | COUNTRY_OF_ASSISTANCE | COUNTRY_OF_DESTINATION | HOST_COUNTRY => {
                Value::from(convert::country(cell)?)
            }
            CONSENT_RESEARCH => Value::from(convert::yes_no(cell)?),
            OTHER_NAMES => {
                let text = convert::text(cell)?;
                let names: Vec<Value> = text
                    .split([';', '|', '\n'])
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(Value::from)
                    .collect();
                Value::Array(names)
            }
            CONSENT_DATA_SHARING => {
                let text = convert::text(cell)?;
                match super::fold(&text).as_str() {
                    "none" | "aucun" | "aucune" | "no" | "non" => Value::from("none"),
                    _ => Value::Array(
                        text.split([';', ',', '|', ' '])
                            .map(str::trim)
                            .filter(|a| !a.is_empty())
                            .map(|a| Value::from(a.to_ascii_lowercase()))
                            .collect(),
                    ),
                }
            }
            key => match codes_of(key) {
                Some(allowed) => Value::from(convert::code(
                    &convert::text(cell)?,
                    key,
                    allowed,
                    &self.labels,
                )?),
                None => Value::from(convert::text(cell)?),
            },
        })
    }
}

/// The parts of one row while its cells are read.
#[derive(Default)]
struct Assembly {
    fields: Fields,
    sets: BTreeMap<&'static str, BTreeSet<&'static str>>,
    documents: Vec<Value>,
    consent_given: Option<bool>,
    consent_date: Option<String>,
    recorded_by: Option<String>,
}

impl Assembly {
    /// Whether the row already gave a value for `target` (defaults fill only gaps).
    fn has(&self, target: &Target) -> bool {
        match target {
            Target::Field(key) if is_set(key) => self.sets.get(key).is_some_and(|s| !s.is_empty()),
            Target::Field(key) => self.fields.contains_key(*key),
            Target::CodeFlag { field, .. } => self.sets.get(field).is_some_and(|s| !s.is_empty()),
            Target::Document(_) => !self.documents.is_empty(),
            Target::ConsentGiven => self.consent_given.is_some(),
            Target::ConsentDate => self.consent_date.is_some(),
            Target::ConsentRecordedBy => self.recorded_by.is_some(),
            Target::Ignore => true,
        }
    }

    fn finish(mut self, recorder: &str, row: u64, problems: &mut Vec<RowProblem>) -> Fields {
        for (key, codes) in self.sets {
            if !codes.is_empty() {
                let codes: Vec<Value> = codes.into_iter().map(Value::from).collect();
                self.fields.insert(key.to_owned(), Value::Array(codes));
            }
        }
        if !self.documents.is_empty() {
            self.fields
                .insert(DOCUMENT_NUMBERS.to_owned(), Value::Array(self.documents));
        }
        let intake = self.fields.get(INTAKE_DATE).cloned();
        match self.consent_given {
            Some(given) => {
                let date = self
                    .consent_date
                    .map(Value::from)
                    .or_else(|| intake.clone());
                let recorded_by = self.recorded_by.unwrap_or_else(|| recorder.to_owned());
                self.fields.insert(
                    CONSENT_ASSISTANCE.to_owned(),
                    json!({"given": given, "date": date, "recorded_by": recorded_by}),
                );
            }
            None if self.consent_date.is_some() => problems.push(RowProblem {
                row,
                column: None,
                field: super::mapping::CONSENT_GIVEN.to_owned(),
                reason: "required when a consent date is given".to_owned(),
                reviewable: false,
            }),
            None => {}
        }
        if self.fields.contains_key(AGE_ESTIMATE) && !self.fields.contains_key(AGE_ESTIMATED_ON) {
            if let Some(intake) = intake {
                self.fields.insert(AGE_ESTIMATED_ON.to_owned(), intake);
            }
        }
        self.fields
    }
}

/// A row's labels with each blank cell taking the label to its left, as a merged group label
/// spans the columns under it.
fn carried_forward(row: &[Cell]) -> Vec<String> {
    let mut last = String::new();
    row.iter()
        .map(|cell| {
            let text = cell.as_text();
            if !text.is_empty() {
                last = text;
            }
            last.clone()
        })
        .collect()
}

fn plan_columns(row: &[Cell], group: Option<&[String]>, mapping: &Mapping) -> Vec<PlannedColumn> {
    row.iter()
        .enumerate()
        .map(|(index, cell)| {
            let own = cell.as_text();
            let group = group
                .and_then(|g| g.get(index))
                .filter(|g| !g.is_empty() && **g != own);
            let (header, target) = match group {
                Some(group) if own.is_empty() => (group.clone(), mapping.target_of(group)),
                Some(group) => {
                    let both = format!("{group} {own}");
                    let target = mapping.target_of(&both).or_else(|| mapping.target_of(&own));
                    (both, target)
                }
                None => (own.clone(), mapping.target_of(&own)),
            };
            PlannedColumn {
                index,
                header,
                target,
                duplicate_of: None,
            }
        })
        .collect()
}

/// Marks a second column with the same single-valued target (set fields may come from several).
fn mark_duplicates(columns: &mut [PlannedColumn]) {
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for column in columns.iter_mut() {
        let Some((target, _)) = &column.target else {
            continue;
        };
        let merges =
            matches!(target, Target::Ignore) || matches!(target, Target::Field(key) if is_set(key));
        if merges {
            continue;
        }
        match first.get(&target.to_string()) {
            Some(&index) => column.duplicate_of = Some(index),
            None => {
                first.insert(target.to_string(), column.index);
            }
        }
    }
}

/// The bytes a row's id is derived from: its number and its cells as text. The same row of
/// the same file gives the same id on every run, so a re-run skips what is already in.
pub fn row_identity(row: u64, cells: &[Cell]) -> Vec<u8> {
    let mut bytes = format!("spreadsheet-row:{row}").into_bytes();
    for cell in cells {
        bytes.push(0x1f);
        bytes.extend_from_slice(cell.as_text().as_bytes());
    }
    bytes
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
