//! Importing a spreadsheet (CSV or XLSX) into the store: strict by default, review mode on
//! request, resumable, in batches.
//!
//! Each data row is read through the column plan (`crate::spreadsheet`) and then checked as
//! any case is ([`Case::from_fields`]). Strict mode (the default) imports a row only when it
//! passes everything. Review mode also imports a row whose only problems are rules *between*
//! fields — a rule a legacy source could not know, such as a child's guardian missing from the
//! consent or identifying data with no consent recorded — and flags the case "needs review"
//! (`review.rs`) with its source row; a row with a value that cannot be read (a date that is
//! no date, an unknown code) is refused in either mode, because importing it would mean
//! dropping or inventing a value.
//!
//! Guarantees: rows are written in transactions of [`SpreadsheetImportOptions::batch_size`],
//! each case with its outbox entry, index tokens and flag together, so a kill loses at most
//! the batch in flight and never leaves half a case. A row's case id is derived from a keyed
//! hash of the row's number and cells, so a re-run of the same file after a kill (or after
//! fixing refused rows in place) skips what is already in and adds nothing twice; rows that
//! were inserted or deleted above others shift their numbers and are imported again, so fix
//! rows in place. A dry run reads and checks everything and writes nothing. Problems name the
//! row, the column letter and the field with the rule, never a value.

use super::error::{Result as StoreResult, StoreError};
use super::records::IndexChanges;
use super::Store;
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::model::{Case, Fields, Reason};
use crate::spreadsheet::plan::{row_identity, PlanError, MAX_HEADER_SCAN_ROWS};
use crate::spreadsheet::{
    Cell, ColumnPlan, ColumnReport, Mapping, ReadError, RowProblem, SheetReader, Target,
};

/// Default rows per transaction: the commit cost is amortized over many cases while a batch
/// stays a few megabytes, and a kill loses little.
pub const DEFAULT_SPREADSHEET_BATCH: usize = 500;

/// Most row problems a report keeps; the counts go on past it. Enough to fix a file by, small
/// enough that a file of nothing but errors does not fill memory.
pub const MAX_REPORTED_PROBLEMS: usize = 10_000;

/// How a spreadsheet import runs.
#[derive(Clone, Debug)]
pub struct SpreadsheetImportOptions {
    pub batch_size: usize,
    /// Read and check every row, write nothing.
    pub dry_run: bool,
    /// Import rows that break only rules between fields, flagged for review.
    pub review: bool,
    /// The file's name, kept with review flags (no directories: they may name a person).
    pub source_name: String,
}

impl Default for SpreadsheetImportOptions {
    fn default() -> Self {
        SpreadsheetImportOptions {
            batch_size: DEFAULT_SPREADSHEET_BATCH,
            dry_run: false,
            review: false,
            source_name: String::new(),
        }
    }
}

/// Running totals, reported after every batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpreadsheetProgress {
    /// Data rows read (blank rows are not counted).
    pub rows_read: u64,
    /// Rows imported (or, in a dry run, that would be), flagged ones included.
    pub imported: u64,
    /// Of those, flagged for review.
    pub flagged: u64,
    /// Rows whose case was already in the store (an earlier run of the same file).
    pub already_present: u64,
    pub refused: u64,
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq)]
pub struct SpreadsheetReport {
    /// The header row as the file numbers it.
    pub header_row: u64,
    /// What each column became.
    pub columns: Vec<ColumnReport>,
    pub totals: SpreadsheetProgress,
    /// The first [`MAX_REPORTED_PROBLEMS`] problems, in file order: of refused rows, and of
    /// rows imported for review (those marked `reviewable`).
    pub problems: Vec<RowProblem>,
}

/// What stops a spreadsheet import before or during it. What was committed stays.
#[derive(Debug, thiserror::Error)]
pub enum SpreadsheetError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SpreadsheetError {
    fn from(error: rusqlite::Error) -> Self {
        SpreadsheetError::Store(error.into())
    }
}

/// Whether a case-model problem is a rule between fields that review mode may let through.
fn reviewable(reason: &Reason) -> bool {
    matches!(reason, Reason::RequiredWhen(_) | Reason::OnlyAllowedWhen(_))
}

/// A row ready to be written.
struct Pending {
    id: RecordId,
    row: u64,
    fields: Fields,
    flagged: bool,
}

impl Store {
    /// Imports a spreadsheet. `progress` is called after every batch and once at the end.
    pub fn import_spreadsheet(
        &mut self,
        sheet: SheetReader,
        mapping: &Mapping,
        options: &SpreadsheetImportOptions,
        progress: &mut dyn FnMut(&SpreadsheetProgress),
    ) -> Result<SpreadsheetReport, SpreadsheetError> {
        let imported = self.import_spreadsheet_rows(sheet, mapping, options, progress);
        self.indexing_pending_after(imported)
    }

    fn import_spreadsheet_rows(
        &mut self,
        mut sheet: SheetReader,
        mapping: &Mapping,
        options: &SpreadsheetImportOptions,
        progress: &mut dyn FnMut(&SpreadsheetProgress),
    ) -> Result<SpreadsheetReport, SpreadsheetError> {
        self.keys()?;
        let mut head = Vec::new();
        while head.len() < MAX_HEADER_SCAN_ROWS {
            match sheet.next_row()? {
                Some(row) => head.push(row),
                None => break,
            }
        }
        let plan = ColumnPlan::detect(&head, mapping, &self.identity.user)?;
        let mut report = SpreadsheetReport {
            header_row: plan.header_row,
            columns: plan.report(),
            totals: SpreadsheetProgress::default(),
            problems: Vec::new(),
        };
        let batch_size = options.batch_size.max(1);
        let mut batch = Vec::with_capacity(batch_size);
        let head_data = head.into_iter().filter(|(n, _)| *n > plan.header_row);
        let mut rest = std::iter::from_fn(|| sheet.next_row().transpose());
        let mut rows = head_data.map(Ok).chain(&mut rest);
        for next in &mut rows {
            let (row, cells) = next?;
            report.totals.rows_read += 1;
            if let Some(pending) = self.check_row(&plan, row, &cells, options, &mut report)? {
                batch.push(pending);
            }
            if batch.len() >= batch_size {
                self.write_rows(&mut batch, options, &mut report.totals)?;
                self.index_pending_when_due()?;
                progress(&report.totals);
            }
        }
        self.write_rows(&mut batch, options, &mut report.totals)?;
        progress(&report.totals);
        Ok(report)
    }

    /// Reads and checks one row: `Some` when it is to be written, else its problems are
    /// recorded and it is counted as refused.
    fn check_row(
        &self,
        plan: &ColumnPlan,
        row: u64,
        cells: &[Cell],
        options: &SpreadsheetImportOptions,
        report: &mut SpreadsheetReport,
    ) -> StoreResult<Option<Pending>> {
        let read = plan.convert_row(row, cells);
        let mut problems = read.problems;
        let mut fields = read.fields;
        // Every problem of the row at once: the case model's too, except for fields whose
        // cell could not be read (their absence would raise rules the cell did satisfy).
        let unreadable: Vec<&'static str> = problems
            .iter()
            .filter_map(|p| Target::parse(&p.field).map(|t| t.field_key()))
            .collect();
        if let Err(errors) = Case::from_fields(&fields) {
            for error in errors {
                if unreadable.contains(&error.key()) {
                    continue;
                }
                let columns = plan.columns_of(error.key());
                problems.push(RowProblem {
                    row,
                    column: (columns.len() == 1).then(|| columns[0].clone()),
                    reviewable: reviewable(&error.reason),
                    field: error.field,
                    reason: error.reason.to_string(),
                });
            }
        }
        // Review mode takes a row whose values all read and that breaks only rules between
        // fields; the values are kept as the model writes them.
        let accepted =
            problems.is_empty() || (options.review && problems.iter().all(|p| p.reviewable));
        let parsed = accepted.then(|| Case::parse_fields(&fields).ok()).flatten();
        let flagged = parsed.is_some() && !problems.is_empty();
        let room = MAX_REPORTED_PROBLEMS.saturating_sub(report.problems.len());
        let Some(case) = parsed else {
            report.totals.refused += 1;
            report.problems.extend(problems.into_iter().take(room));
            return Ok(None);
        };
        fields = case.to_fields();
        report.problems.extend(problems.into_iter().take(room));
        let id = self.derived_row_id(&row_identity(row, cells))?;
        Ok(Some(Pending {
            id,
            row,
            fields,
            flagged,
        }))
    }

    /// A stable id for a row: a keyed hash of its number and cells, shaped as a UUIDv8. Keyed,
    /// so the id tells nothing about the row to someone without the store's key.
    fn derived_row_id(&self, identity: &[u8]) -> StoreResult<RecordId> {
        self.derived_id("spreadsheet-row", identity)
    }

    fn write_rows(
        &mut self,
        batch: &mut Vec<Pending>,
        options: &SpreadsheetImportOptions,
        totals: &mut SpreadsheetProgress,
    ) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut counters = self.counters();
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let tx = self.conn.transaction()?;
        let (mut imported, mut flagged, mut present) = (0, 0, 0);
        // The batch's new cases wait for their tokens (`super::pending_index`).
        let mut index = IndexChanges::deferring_new_cases(true);
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM records WHERE id = ?1")?;
            for pending in batch.drain(..) {
                if exists.exists([&pending.id.as_bytes()[..]])? {
                    present += 1;
                    continue;
                }
                imported += 1;
                flagged += u64::from(pending.flagged);
                if options.dry_run {
                    continue;
                }
                // Checked by check_row; the merged record of a new id is exactly these fields.
                let op = Self::stage_local_change(
                    &tx,
                    keys,
                    &mut counters,
                    &self.identity.agency,
                    RecordKind::Case,
                    pending.id,
                    None,
                    pending.fields,
                    None,
                    None,
                    &mut index,
                )?;
                if pending.flagged {
                    let at = op.map_or(0, |op| op.hlc.wall_ms as i64);
                    Self::stage_review_flag(
                        &tx,
                        keys,
                        &pending.id,
                        &options.source_name,
                        pending.row,
                        at,
                    )?;
                }
            }
        }
        index.apply(&tx)?;
        if options.dry_run {
            tx.rollback()?;
        } else {
            Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
            tx.commit()?;
            self.commit_counters(counters);
        }
        totals.imported += imported;
        totals.flagged += flagged;
        totals.already_present += present;
        Ok(())
    }
}
