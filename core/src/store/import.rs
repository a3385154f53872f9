//! Bulk import of cases from JSON Lines: the way in from spreadsheets and older databases.
//!
//! One case per line, in the nested form of [`crate::model::Case::from_json`], optionally with
//! an `"id"` (a UUID) to keep an older system's identifiers. The file is streamed — memory
//! stays flat whatever its size — and written in transactions of [`ImportOptions::batch_size`]
//! cases, so a crash or a kill loses at most the batch in flight and never leaves half a case.
//!
//! A bad line does not stop the import: it is reported with its line number and, for invalid
//! cases, the field and the reason (never the value), and the other lines go in. Re-running
//! the same file is safe: a line whose case is already in the store is skipped. Lines without
//! an `"id"` get one derived from a keyed hash of the line, so a re-run after an interrupted
//! import picks up where it stopped instead of duplicating what was done.

use super::records::IndexChanges;
use super::{Result, Store};
use crate::crypto::IndexKind;
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::model::{Case, ValidationErrors};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Read};

/// Default cases per transaction: large enough that commit cost is amortized, small enough
/// that a batch's memory stays in the low megabytes.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// Longest accepted line. A ~1.2 KB case is far below it; a longer line is almost certainly
/// not a case (a binary file, a missing newline) and is reported, not buffered.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Most line errors a report keeps; the count goes on past it.
pub const MAX_REPORTED_ERRORS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub batch_size: usize,
    /// Check every line and report, write nothing.
    pub validate_only: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            validate_only: false,
        }
    }
}

/// Running totals, passed to the progress callback after every batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    pub lines_read: u64,
    pub bytes_read: u64,
    pub imported: u64,
    pub already_present: u64,
    pub failed: u64,
}

/// Why one line was not imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error("line is not a JSON object")]
    NotAnObject,
    #[error("\"id\" is not a UUID")]
    BadId,
    #[error("{0}")]
    Invalid(ValidationErrors),
}

/// One rejected line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: u64,
    pub problem: LineProblem,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            LineProblem::Invalid(errors) => {
                let fields: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                write!(f, "line {}: {}", self.line, fields.join("; "))
            }
            other => write!(f, "line {}: {other}", self.line),
        }
    }
}

/// The outcome of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub totals: ImportProgress,
    /// The first [`MAX_REPORTED_ERRORS`] line errors, in file order.
    pub errors: Vec<LineError>,
}

/// A line that parsed into a valid case.
struct ParsedCase {
    id: RecordId,
    fields: crate::model::Fields,
}

enum LineRead {
    Eof,
    Line(Vec<u8>),
    TooLong,
}

fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    bytes_read: &mut u64,
) -> std::io::Result<LineRead> {
    buf.clear();
    let n = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    *bytes_read += n as u64;
    if n == 0 {
        return Ok(LineRead::Eof);
    }
    if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
        // Skip the rest of the oversized line without holding it.
        loop {
            let available = reader.fill_buf()?;
            if available.is_empty() {
                break;
            }
            let (consumed, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            reader.consume(consumed);
            *bytes_read += consumed as u64;
            if done {
                break;
            }
        }
        return Ok(LineRead::TooLong);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(LineRead::Line(std::mem::take(buf)))
}

impl Store {
    /// Imports cases from a JSON Lines stream. Fatal errors (the file cannot be read, the
    /// store fails) stop the import after the last committed batch; line errors do not.
    pub fn import_jsonl(
        &mut self,
        reader: impl BufRead,
        options: &ImportOptions,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        let imported = self.import_jsonl_batches(reader, options, progress);
        self.indexing_pending_after(imported)
    }

    fn import_jsonl_batches(
        &mut self,
        mut reader: impl BufRead,
        options: &ImportOptions,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        self.keys()?;
        let batch_size = options.batch_size.max(1);
        let mut report = ImportReport::default();
        let mut batch: Vec<ParsedCase> = Vec::with_capacity(batch_size);
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            let read = read_line(&mut reader, &mut buf, &mut report.totals.bytes_read)?;
            let line = match read {
                LineRead::Eof => break,
                LineRead::TooLong => Err(LineProblem::TooLong),
                LineRead::Line(bytes) => Ok(bytes),
            };
            line_no += 1;
            report.totals.lines_read = line_no;
            let parsed = line.and_then(|bytes| {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.parse_line(&bytes).map(Some)
            });
            match parsed {
                Ok(None) => {}
                Ok(Some(case)) => batch.push(case),
                Err(problem) => {
                    report.totals.failed += 1;
                    if report.errors.len() < MAX_REPORTED_ERRORS {
                        report.errors.push(LineError {
                            line: line_no,
                            problem,
                        });
                    }
                }
            }
            if batch.len() >= batch_size {
                self.write_batch(&mut batch, options, &mut report.totals)?;
                self.index_pending_when_due()?;
                progress(&report.totals);
            }
        }
        self.write_batch(&mut batch, options, &mut report.totals)?;
        progress(&report.totals);
        Ok(report)
    }

    fn parse_line(&self, bytes: &[u8]) -> std::result::Result<ParsedCase, LineProblem> {
        let text = std::str::from_utf8(bytes).map_err(|_| LineProblem::NotUtf8)?;
        let mut value: Value = serde_json::from_str(text).map_err(|_| LineProblem::NotAnObject)?;
        let object = value.as_object_mut().ok_or(LineProblem::NotAnObject)?;
        let id = match object.remove("id") {
            None | Some(Value::Null) => self.derived_import_id(bytes),
            // An id of the server's namespace would be refused by the server at sync: say so
            // now, on the line, rather than later on a record already imported.
            Some(Value::String(id)) => id
                .parse::<RecordId>()
                .ok()
                .filter(|id| !id.is_server_authored())
                .ok_or(LineProblem::BadId)?,
            Some(_) => return Err(LineProblem::BadId),
        };
        let case = Case::from_json(&value).map_err(LineProblem::Invalid)?;
        Ok(ParsedCase {
            id,
            fields: case.to_fields(),
        })
    }

    /// A stable id for a line without one: a keyed hash of its bytes, shaped as a UUIDv8.
    /// Keyed, so the id reveals nothing about the line to someone without the store's key.
    fn derived_import_id(&self, line: &[u8]) -> RecordId {
        match self.derived_id("import-line", line) {
            Ok(id) => id,
            Err(_) => unreachable!("import checks the store is unlocked before reading"),
        }
    }

    /// A record id derived from `content` under the store's index key, in the namespace
    /// `purpose` (so a line and a row with the same bytes get different ids), shaped as a
    /// UUIDv8: the same content always gives the same id, which is what lets an import run
    /// again without doubles.
    pub(super) fn derived_id(&self, purpose: &str, content: &[u8]) -> Result<RecordId> {
        let digest = Sha256::digest(content);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let mut bytes = self
            .keys()?
            .index
            .token(IndexKind::Document, &format!("{purpose}:{hex}"));
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: custom
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        Ok(RecordId::from_bytes(bytes))
    }

    fn write_batch(
        &mut self,
        batch: &mut Vec<ParsedCase>,
        options: &ImportOptions,
        totals: &mut ImportProgress,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut counters = self.counters();
        let keys = super::lifecycle::unlocked_keys(&self.keys, self.wiped)?;
        let tx = self.conn.transaction()?;
        let mut imported = 0;
        let mut present = 0;
        // The batch's new cases wait for their tokens (`super::pending_index`).
        let mut index = IndexChanges::deferring_new_cases(true);
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM records WHERE id = ?1")?;
            for case in batch.drain(..) {
                if exists.exists([&case.id.as_bytes()[..]])? {
                    present += 1;
                    continue;
                }
                if options.validate_only {
                    imported += 1;
                    continue;
                }
                let agency = &self.identity.agency;
                // Already validated by parse_line; the merged record is exactly these fields.
                let op = Self::stage_local_change(
                    &tx,
                    keys,
                    &mut counters,
                    agency,
                    RecordKind::Case,
                    case.id,
                    None,
                    case.fields,
                    None,
                    None,
                    &mut index,
                )?;
                imported += u64::from(op.is_some());
            }
        }
        index.apply(&tx)?;
        if options.validate_only {
            tx.rollback()?;
        } else {
            Self::save_device_state(&tx, counters.last_seq, &counters.clock)?;
            tx.commit()?;
            self.commit_counters(counters);
        }
        totals.imported += imported;
        totals.already_present += present;
        Ok(())
    }
}
