//! Reading a spreadsheet file as rows of cells: CSV streamed, XLSX from its first sheet.
//!
//! CSV: the separator (comma, semicolon as a French-locale Excel writes, or tab) is found from
//! the first line; quoted cells may hold separators and line breaks; a UTF-8 byte-order mark
//! is dropped. The text must be UTF-8, unless [`Encoding::Latin1`] is asked for (Windows-1252,
//! what older Excel versions write as "CSV"): a file that is not UTF-8 is refused with the row
//! where it stops being UTF-8 and what to do, never decoded by guess, because a wrong guess
//! would put mangled names into the store without a word. Rows are numbered as the file's
//! lines where they start, which is the row number a spreadsheet program shows when no cell
//! holds a line break. Memory stays flat whatever the file's size.
//!
//! XLSX (feature `spreadsheet-xlsx`): the first sheet is loaded whole (calamine reads a sheet
//! at once), so the file's size is bounded by [`MAX_XLSX_BYTES`]. Date cells come as dates,
//! converted from Excel serial numbers in the workbook's date system. Rows are numbered as the
//! sheet numbers them, columns keep their letters even when the sheet's first rows or columns
//! are empty.

use super::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Largest XLSX file accepted. calamine holds the whole sheet in memory, at several times the
/// file's compressed size; 64 MiB of XLSX is several hundred thousand rows, more than any
/// caseload, and still fits a laptop's memory. Larger caseloads go through CSV, which streams.
pub const MAX_XLSX_BYTES: u64 = 64 * 1024 * 1024;

/// Most columns read from a row; cells past it are ignored. No caseload has this many fields,
/// and the bound keeps a runaway row (a file that is not a table) cheap.
pub const MAX_COLUMNS: usize = 1024;

/// How far the separator sniffing looks: the first line, up to this many bytes.
const SNIFF_BYTES: usize = 64 * 1024;

/// The text encoding of a CSV file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8").
    #[default]
    Utf8,
    /// Latin-1 as Windows writes it (Windows-1252): older Excel's plain "CSV".
    Latin1,
}

impl std::str::FromStr for Encoding {
    type Err = ReadError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "utf8" => Ok(Encoding::Utf8),
            "latin1" | "iso88591" | "windows1252" | "cp1252" => Ok(Encoding::Latin1),
            _ => Err(ReadError::UnknownEncoding),
        }
    }
}

/// Why a file cannot be read. Never holds a cell's content.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("row {row} is not UTF-8 text: save the file as \"CSV UTF-8\", or import it with the Latin-1 encoding (--encoding latin1) if it came from an older Excel")]
    NotUtf8 { row: u64 },
    #[error("row {row} is not well-formed CSV (an unclosed quote?)")]
    MalformedCsv { row: u64 },
    #[error("unknown encoding: use utf8 or latin1")]
    UnknownEncoding,
    #[error("not a readable XLSX workbook ({0})")]
    Xlsx(&'static str),
    #[error("the workbook is larger than {} MiB; export the sheet as CSV, which is read as a stream", MAX_XLSX_BYTES / 1024 / 1024)]
    XlsxTooLarge,
    #[error("this build reads CSV only; XLSX needs the spreadsheet-xlsx feature")]
    XlsxNotBuilt,
    #[error("an old binary .xls workbook: save it as .xlsx or as CSV UTF-8")]
    OldXls,
}

/// A spreadsheet file, read row by row.
pub struct SheetReader {
    source: Source,
}

enum Source {
    Csv {
        reader: csv::Reader<Box<dyn Read + Send>>,
        record: csv::ByteRecord,
        encoding: Encoding,
        tail: Arc<Tail>,
    },
    #[cfg(feature = "spreadsheet-xlsx")]
    Xlsx {
        rows: std::vec::IntoIter<(u64, Vec<Cell>)>,
    },
}

impl std::fmt::Debug for SheetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetReader").finish_non_exhaustive()
    }
}

/// Whether a file name says XLSX (else it is read as CSV).
pub fn is_xlsx_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx") || e.eq_ignore_ascii_case("xlsm"))
}

impl SheetReader {
    /// Opens a file by its name: `.xlsx`/`.xlsm` as a workbook, anything else as CSV.
    pub fn open(path: &Path, encoding: Encoding) -> Result<SheetReader, ReadError> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if extension.eq_ignore_ascii_case("xls") {
            return Err(ReadError::OldXls);
        }
        let file = std::fs::File::open(path)?;
        if is_xlsx_path(path) {
            if file.metadata()?.len() > MAX_XLSX_BYTES {
                return Err(ReadError::XlsxTooLarge);
            }
            return SheetReader::xlsx(BufReader::new(file));
        }
        SheetReader::csv(file, encoding)
    }

    /// CSV from any reader.
    pub fn csv(
        input: impl Read + Send + 'static,
        encoding: Encoding,
    ) -> Result<SheetReader, ReadError> {
        let mut buffered = BufReader::with_capacity(SNIFF_BYTES, input);
        let head = buffered.fill_buf()?;
        let bom = head.starts_with(b"\xEF\xBB\xBF");
        if bom {
            buffered.consume(3);
        }
        let delimiter = sniff_delimiter(buffered.fill_buf()?);
        let tail = Arc::new(Tail::default());
        let watched = Watched {
            inner: buffered,
            tail: Arc::clone(&tail),
        };
        // Only `\n` ends a row: a `\r` before it is dropped from the last cell, so CRLF files
        // number their rows like LF files.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(Box::new(watched) as Box<dyn Read + Send>);
        Ok(SheetReader {
            source: Source::Csv {
                reader,
                record: csv::ByteRecord::new(),
                encoding,
                tail,
            },
        })
    }

    /// The first sheet of an XLSX workbook.
    #[cfg(feature = "spreadsheet-xlsx")]
    pub fn xlsx<R: Read + std::io::Seek>(input: R) -> Result<SheetReader, ReadError> {
        Ok(SheetReader {
            source: Source::Xlsx {
                rows: xlsx::first_sheet(input)?.into_iter(),
            },
        })
    }

    #[cfg(not(feature = "spreadsheet-xlsx"))]
    pub fn xlsx<R: Read + std::io::Seek>(_input: R) -> Result<SheetReader, ReadError> {
        Err(ReadError::XlsxNotBuilt)
    }

    /// The next row that is not blank, with its 1-based number, or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<(u64, Vec<Cell>)>, ReadError> {
        loop {
            let row = self.next_any_row()?;
            match row {
                Some((_, cells)) if cells.iter().all(Cell::is_blank) => continue,
                other => return Ok(other),
            }
        }
    }

    fn next_any_row(&mut self) -> Result<Option<(u64, Vec<Cell>)>, ReadError> {
        match &mut self.source {
            Source::Csv {
                reader,
                record,
                encoding,
                tail,
            } => {
                let more = reader.read_byte_record(record).map_err(|e| {
                    let row = e.position().map_or(0, |p| p.line());
                    match e.into_kind() {
                        csv::ErrorKind::Io(io) => ReadError::Io(io),
                        _ => ReadError::MalformedCsv { row },
                    }
                })?;
                if !more {
                    return Ok(None);
                }
                let row = start_line(reader, record, tail);
                let cells = record
                    .iter()
                    .take(MAX_COLUMNS)
                    .map(|bytes| decode(bytes, *encoding).ok_or(ReadError::NotUtf8 { row }))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((row, cells)))
            }
            #[cfg(feature = "spreadsheet-xlsx")]
            Source::Xlsx { rows } => Ok(rows.next()),
        }
    }
}

/// What the CSV reader has pulled from the file so far: how far, the last byte, and whether
/// the end was reached — what it takes to tell where the row just read started.
#[derive(Default)]
struct Tail {
    bytes: AtomicU64,
    last: AtomicU8,
    eof: AtomicBool,
}

struct Watched<R> {
    inner: R,
    tail: Arc<Tail>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.tail.eof.store(true, Ordering::Relaxed);
        } else {
            self.tail.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.tail.last.store(buf[n - 1], Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The line where the row just read starts. The csv reader skips blank lines and counts them
/// into the row's own position, so it is worked back from where the row ends: the lines read
/// so far, less the line breaks inside quoted cells, less the row's own line break (absent
/// only on a last line without one).
fn start_line(
    reader: &csv::Reader<Box<dyn Read + Send>>,
    record: &csv::ByteRecord,
    tail: &Tail,
) -> u64 {
    let end = reader.position();
    let inside: u64 = record
        .iter()
        .map(|field| field.iter().filter(|&&b| b == b'\n').count() as u64)
        .sum();
    let at_unterminated_end = tail.eof.load(Ordering::Relaxed)
        && end.byte() >= tail.bytes.load(Ordering::Relaxed)
        && tail.last.load(Ordering::Relaxed) != b'\n';
    let own_break = u64::from(!at_unterminated_end);
    end.line().saturating_sub(inside + own_break).max(1)
}

/// The separator of a CSV file from its first line: the most frequent of `,`, `;` and tab
/// outside quotes; a comma when none appears (a one-column file).
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &byte in head {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    [b',', b';', b'\t'][best]
}

fn decode(bytes: &[u8], encoding: Encoding) -> Option<Cell> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let text = match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok()?.to_owned(),
        Encoding::Latin1 => bytes.iter().map(|&b| windows_1252(b)).collect(),
    };
    Some(if text.trim().is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text)
    })
}

/// One Windows-1252 byte as a character: Latin-1, except 0x80–0x9F, where Windows puts the
/// euro sign, typographic quotes and dashes, and a few letters (Œ, œ, Š, Ž…).
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[usize::from(byte - 0x80)],
        other => char::from(other),
    }
}

#[cfg(feature = "spreadsheet-xlsx")]
mod xlsx {
    use super::{Cell, ReadError};
    use crate::model::Date;
    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
    use std::io::{Read, Seek};

    /// Every row of the first sheet with its 1-based number; empty leading columns kept so
    /// letters match the sheet.
    pub(super) fn first_sheet<R: Read + Seek>(
        input: R,
    ) -> Result<Vec<(u64, Vec<Cell>)>, ReadError> {
        crate::workbook::read_guarded(|| read_first_sheet(input))
            .unwrap_or(Err(ReadError::Xlsx("the workbook is damaged")))
    }

    /// [`first_sheet`]; may panic inside calamine on a malformed workbook.
    fn read_first_sheet<R: Read + Seek>(input: R) -> Result<Vec<(u64, Vec<Cell>)>, ReadError> {
        let mut book: Xlsx<R> =
            open_workbook_from_rs(input).map_err(|_| ReadError::Xlsx("not a workbook"))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or(ReadError::Xlsx("the workbook has no sheet"))?
            .map_err(|_| ReadError::Xlsx("the first sheet cannot be read"))?;
        let Some((first_row, first_column)) = range.start() else {
            return Ok(Vec::new());
        };
        let lead = (first_column as usize).min(super::MAX_COLUMNS);
        let rows = range
            .rows()
            .enumerate()
            .map(|(i, row)| {
                let mut cells = vec![Cell::Empty; lead];
                cells.extend(row.iter().take(super::MAX_COLUMNS - lead).map(cell));
                (u64::from(first_row) + i as u64 + 1, cells)
            })
            .collect();
        Ok(rows)
    }

    fn cell(data: &Data) -> Cell {
        match data {
            Data::Empty => Cell::Empty,
            Data::String(s) if s.trim().is_empty() => Cell::Empty,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
            Data::Int(i) => Cell::Number(*i as f64),
            Data::Float(f) => Cell::Number(*f),
            Data::Bool(b) => Cell::Bool(*b),
            Data::DateTime(dt) if dt.is_datetime() => {
                let (year, month, day, ..) = dt.to_ymd_hms_milli();
                Date::new(year, month, day).map_or(Cell::Error, Cell::Date)
            }
            Data::DateTime(dt) => Cell::Number(dt.as_f64()),
            Data::Error(_) => Cell::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(
        bytes: &'static [u8],
        encoding: Encoding,
    ) -> Result<Vec<(u64, Vec<String>)>, ReadError> {
        let mut reader = SheetReader::csv(bytes, encoding)?;
        let mut out = Vec::new();
        while let Some((row, cells)) = reader.next_row()? {
            out.push((row, cells.iter().map(Cell::as_text).collect()));
        }
        Ok(out)
    }

    #[test]
    fn separators_are_found_and_a_bom_dropped() {
        let comma = rows(b"\xEF\xBB\xBFSex,DOB\nF,2001-03-04\n", Encoding::Utf8).unwrap();
        assert_eq!(comma[0].1, ["Sex", "DOB"], "no BOM in the first header");
        let semicolon = rows(b"Sexe;Age\nF;17,0\n", Encoding::Utf8).unwrap();
        assert_eq!(
            semicolon[1].1,
            ["F", "17,0"],
            "decimal comma stays in its cell"
        );
        let tab = rows(b"a\tb\n1\t2\n", Encoding::Utf8).unwrap();
        assert_eq!(tab[1].1, ["1", "2"]);
        let quoted = rows(b"\"a;b\",c,d\n1,2,3\n", Encoding::Utf8).unwrap();
        assert_eq!(quoted[0].1, ["a;b", "c", "d"]);
    }

    #[test]
    fn rows_keep_their_line_numbers_across_blank_lines() {
        let numbers = |bytes: &'static [u8]| -> Vec<u64> {
            rows(bytes, Encoding::Utf8)
                .unwrap()
                .iter()
                .map(|(n, _)| *n)
                .collect()
        };
        assert_eq!(
            numbers(b"h1,h2\n\n1,2\n\"multi\nline\",3\n4,5\n"),
            [1, 3, 4, 6]
        );
        assert_eq!(
            numbers(b"h1,h2\n\n1,2\n\"multi\nline\",3\n4,5"),
            [1, 3, 4, 6]
        );
        assert_eq!(numbers(b"h1,h2\r\n\r\n\r\n1,2\r\n4,5\r\n"), [1, 4, 5]);
        assert_eq!(numbers(b"\xEF\xBB\xBFh\n\nx"), [1, 3]);
        let crlf = rows(b"a,b\r\n1,2\r\n", Encoding::Utf8).unwrap();
        assert_eq!(crlf[1].1, ["1", "2"]);
    }

    #[test]
    fn latin1_is_refused_unless_asked_for() {
        let bytes: &'static [u8] = b"Pr\xe9nom,Nom\nJos\xe9,Na\xefve\n";
        let error = rows(bytes, Encoding::Utf8).unwrap_err();
        assert!(matches!(error, ReadError::NotUtf8 { row: 1 }), "{error}");
        assert!(error.to_string().contains("latin1"));
        let read = rows(bytes, Encoding::Latin1).unwrap();
        assert_eq!(read[0].1, ["Prénom", "Nom"]);
        assert_eq!(read[1].1, ["José", "Naïve"]);
        assert_eq!(windows_1252(0x80), '€');
        assert_eq!("latin1".parse::<Encoding>().unwrap(), Encoding::Latin1);
    }

    #[test]
    fn an_unclosed_quote_is_a_clear_error_or_one_long_cell() {
        // The csv reader takes an unclosed quote to the end of the file: one cell, no panic.
        let read = rows(b"a,b\n\"open,2\n3,4\n", Encoding::Utf8).unwrap();
        assert_eq!(read.len(), 2);
    }
}
