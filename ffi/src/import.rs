//! Spreadsheet import for an app's "import" screen, and the list of cases imported for review.
//!
//! [`FieldcaseStore::import_spreadsheet`] reads a CSV or XLSX file the app has a path to
//! (after the user picked it), with the common headers recognised and, optionally, a mapping
//! file; it reports progress after every batch through an [`ImportObserver`] the app
//! implements, as sync does. A dry run reads and checks everything and writes nothing: show
//! its report (what each column became, every problem by row, column and rule — never a
//! value) before the real import. Strict by default; `review` also imports rows that break
//! only a rule between fields and flags them, listed by [`FieldcaseStore::list_review`] until
//! an edit makes them pass. Re-running the same file adds nothing twice, so an import cut
//! short (the app killed, the phone out of battery) is finished by running it again.
//!
//! The import runs on the facade's blocking pool and holds the store for its whole length:
//! other calls on the same store wait until it ends. Nothing here decides anything: the
//! reading, checking and writing are core's.

use crate::error::{FieldProblem, FieldcaseError, Result};
use crate::runtime::blocking;
use crate::store::{lock, FieldcaseStore};
use fieldcase_core::spreadsheet::{Encoding, Mapping, SheetReader};
use fieldcase_core::store::{SpreadsheetImportOptions, SpreadsheetProgress};
use std::path::PathBuf;
use std::sync::Arc;

/// The text encoding of a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"): the default.
    Utf8,
    /// Windows Latin-1, as older Excel versions write "CSV".
    Latin1,
}

/// How to import.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportSettings {
    /// A mapping file (.toml or .json) naming columns the common headers do not cover.
    pub mapping_path: Option<String>,
    /// Import rows that break only a rule between fields, flagged for review.
    pub review: bool,
    /// Read and check every row; write nothing.
    pub dry_run: bool,
    pub encoding: TextEncoding,
}

/// Running totals of an import.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportProgress {
    /// Data rows read so far (blank rows are not counted).
    pub rows_read: u64,
    /// Rows imported (in a dry run: that would be), flagged ones included.
    pub imported: u64,
    /// Of those, flagged for review.
    pub flagged: u64,
    /// Rows already in the store from an earlier run of the same file.
    pub already_present: u64,
    pub refused: u64,
}

/// What one column became.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportColumn {
    /// The column letter (A, B, … AA).
    pub column: String,
    /// The header as the file writes it.
    pub header: String,
    /// The field it feeds, or `None` when it is not read.
    pub target: Option<String>,
    /// How the target was found ("common header", "mapping file"), or why it is not read.
    pub how: String,
}

/// One problem of one row. Never holds a value from the file.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportProblem {
    pub row: u64,
    pub column: Option<String>,
    pub field: String,
    pub reason: String,
    /// Whether review mode imports the row anyway (a rule between fields).
    pub reviewable: bool,
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    pub header_row: u64,
    pub columns: Vec<ImportColumn>,
    pub totals: ImportProgress,
    /// Problems in file order (at most 10,000).
    pub problems: Vec<ImportProblem>,
}

/// A case imported for review: where it came from and what it still breaks.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReviewItem {
    pub case_id: String,
    /// The file's name and the row it came from.
    pub source: String,
    pub row: u64,
    pub flagged_ms: i64,
    /// What to fix: each field and its rule.
    pub problems: Vec<FieldProblem>,
}

/// What the app hears while an import runs: called on a fieldcase thread after every batch.
/// An exception thrown here is ignored and does not stop the import.
#[uniffi::export(with_foreign)]
pub trait ImportObserver: Send + Sync {
    fn on_progress(&self, progress: ImportProgress) -> Result<(), FieldcaseError>;
}

impl From<&SpreadsheetProgress> for ImportProgress {
    fn from(p: &SpreadsheetProgress) -> Self {
        ImportProgress {
            rows_read: p.rows_read,
            imported: p.imported,
            flagged: p.flagged,
            already_present: p.already_present,
            refused: p.refused,
        }
    }
}

#[uniffi::export]
impl FieldcaseStore {
    /// Imports (or, with `dry_run`, checks) a CSV or XLSX file. Fails with `Invalid` (on
    /// `file` or `mapping`) for a file or mapping that cannot be read — nothing is written
    /// then; row problems are in the report, not failures.
    pub async fn import_spreadsheet(
        self: Arc<Self>,
        path: String,
        settings: ImportSettings,
        observer: Option<Arc<dyn ImportObserver>>,
    ) -> Result<ImportReport> {
        let this = Arc::clone(&self);
        blocking(move || {
            let mapping = match &settings.mapping_path {
                Some(mapping) => Mapping::from_path(&PathBuf::from(mapping))?,
                None => Mapping::builtin(),
            };
            let encoding = match settings.encoding {
                TextEncoding::Utf8 => Encoding::Utf8,
                TextEncoding::Latin1 => Encoding::Latin1,
            };
            let path = PathBuf::from(path);
            let sheet = SheetReader::open(&path, encoding)?;
            let options = SpreadsheetImportOptions {
                dry_run: settings.dry_run,
                review: settings.review,
                source_name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                ..SpreadsheetImportOptions::default()
            };
            let mut progress = |p: &SpreadsheetProgress| {
                if let Some(observer) = &observer {
                    // A failing progress display must not stop the import.
                    let _ = observer.on_progress(p.into());
                }
            };
            let report =
                lock(&this.store).import_spreadsheet(sheet, &mapping, &options, &mut progress)?;
            Ok(ImportReport {
                header_row: report.header_row,
                columns: report
                    .columns
                    .into_iter()
                    .map(|c| ImportColumn {
                        column: c.column,
                        header: c.header,
                        target: c.target,
                        how: c.how,
                    })
                    .collect(),
                totals: (&report.totals).into(),
                problems: report
                    .problems
                    .into_iter()
                    .map(|p| ImportProblem {
                        row: p.row,
                        column: p.column,
                        field: p.field,
                        reason: p.reason,
                        reviewable: p.reviewable,
                    })
                    .collect(),
            })
        })
        .await
    }

    /// Cases imported for review, oldest first, each with what it still breaks. A case leaves
    /// the list once it passes every rule (after `update_case`, or a fix synced from another
    /// device). Flags stay on this device; the cases themselves sync.
    pub fn list_review(&self) -> Result<Vec<ReviewItem>> {
        let flags = self.store().list_review()?;
        Ok(flags
            .into_iter()
            .map(|f| ReviewItem {
                case_id: f.case_id.to_string(),
                source: f.source,
                row: f.row,
                flagged_ms: f.flagged_ms,
                problems: f
                    .reasons
                    .into_iter()
                    .map(|r| FieldProblem {
                        field: r.field,
                        reason: r.reason,
                    })
                    .collect(),
            })
            .collect())
    }
}
