//! `fieldcase device import` and `device review`: cases in bulk from JSON Lines or from a
//! spreadsheet (CSV, XLSX), and the list of cases imported for review.
//!
//! The file's name says which: `.jsonl`/`.ndjson`/`.json` are JSON Lines of nested cases;
//! `.csv`, `.tsv`, `.txt`, `.xlsx` and `.xlsm` are spreadsheets, read through core's column
//! mapping. Progress goes to standard error; the report (what each column became, every
//! problem by row, column and rule, never a value) to standard output, as text or `--json`.

use crate::cli::output::{table, Output};
use anyhow::Context;
use fieldcase_core::import::ImportOptions;
use fieldcase_core::spreadsheet::{Encoding, Mapping, SheetReader};
use fieldcase_core::store::{SpreadsheetImportOptions, SpreadsheetReport, Store};
use serde_json::json;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Problems printed in text mode; `--json` has them all (up to core's bound).
const MAX_PRINTED_PROBLEMS: usize = 50;

/// The import options of the command line.
pub struct ImportArgs {
    pub validate_only: bool,
    pub batch: Option<usize>,
    pub mapping: Option<PathBuf>,
    pub review: bool,
    pub encoding: String,
}

enum Format {
    JsonLines,
    Spreadsheet,
}

fn format_of(file: &Path) -> anyhow::Result<Format> {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "jsonl" | "ndjson" | "json" => Ok(Format::JsonLines),
        "csv" | "tsv" | "txt" | "xlsx" | "xlsm" | "xls" => Ok(Format::Spreadsheet),
        _ => anyhow::bail!(
            "cannot tell the format of {} from its name: use .jsonl for JSON Lines, .csv or .xlsx for a spreadsheet",
            file.display()
        ),
    }
}

pub fn import(
    store: &mut Store,
    file: &Path,
    args: &ImportArgs,
    out: Output,
) -> anyhow::Result<()> {
    match format_of(file)? {
        Format::JsonLines => {
            anyhow::ensure!(
                args.mapping.is_none() && !args.review && args.encoding == "utf8",
                "--mapping, --review and --encoding are for spreadsheets; JSON Lines hold nested cases"
            );
            let batch = args
                .batch
                .unwrap_or(fieldcase_core::import::DEFAULT_BATCH_SIZE);
            import_jsonl(store, file, args.validate_only, batch, out)
        }
        Format::Spreadsheet => import_spreadsheet(store, file, args, out),
    }
}

fn import_spreadsheet(
    store: &mut Store,
    file: &Path,
    args: &ImportArgs,
    out: Output,
) -> anyhow::Result<()> {
    let encoding: Encoding = args.encoding.parse()?;
    let mapping = match &args.mapping {
        Some(path) => {
            Mapping::from_path(path).with_context(|| format!("mapping file {}", path.display()))?
        }
        None => Mapping::builtin(),
    };
    let sheet =
        SheetReader::open(file, encoding).with_context(|| format!("reading {}", file.display()))?;
    let options = SpreadsheetImportOptions {
        batch_size: args
            .batch
            .unwrap_or(fieldcase_core::store::spreadsheet::DEFAULT_SPREADSHEET_BATCH),
        dry_run: args.validate_only,
        review: args.review,
        // The name alone: a directory may name a person or a place.
        source_name: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let show = !out.json;
    let report = store
        .import_spreadsheet(sheet, &mapping, &options, &mut |p| {
            if show {
                eprint!(
                    "\rimport: {} rows read, {} imported ({} for review), {} already present, {} refused   ",
                    p.rows_read, p.imported, p.flagged, p.already_present, p.refused
                );
            }
        })
        .with_context(|| format!("importing {}", file.display()))?;
    if show {
        eprintln!();
    }
    print_spreadsheet_report(&report, &options, out);
    let refused = report.totals.refused;
    if args.validate_only && refused > 0 {
        anyhow::bail!("{refused} row(s) would be refused; nothing was written");
    }
    Ok(())
}

fn print_spreadsheet_report(
    report: &SpreadsheetReport,
    options: &SpreadsheetImportOptions,
    out: Output,
) {
    let t = &report.totals;
    let problems: Vec<_> = report
        .problems
        .iter()
        .map(|p| json!({"row": p.row, "column": p.column, "field": p.field, "reason": p.reason, "reviewable": p.reviewable}))
        .collect();
    let value = json!({
        "format": "spreadsheet", "header_row": report.header_row, "columns": report.columns,
        "rows": t.rows_read, "imported": t.imported, "flagged": t.flagged,
        "already_present": t.already_present, "refused": t.refused,
        "validate_only": options.dry_run, "review": options.review, "problems": problems,
    });
    out.print(&value, || {
        let rows: Vec<Vec<String>> = report
            .columns
            .iter()
            .map(|c| {
                let became = match &c.target {
                    Some(target) => format!("{target} ({})", c.how),
                    None => c.how.clone(),
                };
                vec![c.column.clone(), c.header.clone(), became]
            })
            .collect();
        let mut text = format!("header row {}\n", report.header_row);
        text.push_str(&table(&["COLUMN", "HEADER", "BECAME"], &rows));
        let verb = if options.dry_run {
            "would import"
        } else {
            "imported"
        };
        text.push_str(&format!(
            "\n{verb} {} case(s) ({} flagged for review); {} already present; {} row(s) refused",
            t.imported, t.flagged, t.already_present, t.refused
        ));
        for problem in report.problems.iter().take(MAX_PRINTED_PROBLEMS) {
            text.push_str(&format!("\n  {problem}"));
            if problem.reviewable && !options.review {
                text.push_str(" [--review would import the row, flagged]");
            }
        }
        if report.problems.len() > MAX_PRINTED_PROBLEMS {
            text.push_str(&format!(
                "\n  … and {} more (use --json for all)",
                report.problems.len() - MAX_PRINTED_PROBLEMS
            ));
        }
        text
    });
}

pub fn review_list(store: &Store, out: Output) -> anyhow::Result<()> {
    let flags = store.list_review()?;
    let value: Vec<_> = flags
        .iter()
        .map(|f| {
            json!({"case_id": f.case_id, "source": f.source, "row": f.row, "flagged_ms": f.flagged_ms,
                   "reasons": f.reasons.iter().map(|r| json!({"field": r.field, "reason": r.reason})).collect::<Vec<_>>()})
        })
        .collect();
    out.print(&value, || {
        let rows: Vec<Vec<String>> = flags
            .iter()
            .map(|f| {
                let reasons: Vec<String> = f
                    .reasons
                    .iter()
                    .map(|r| format!("{}: {}", r.field, r.reason))
                    .collect();
                vec![
                    f.case_id.to_string(),
                    format!("{} row {}", f.source, f.row),
                    reasons.join("; "),
                ]
            })
            .collect();
        table(&["CASE", "FROM", "TO FIX"], &rows)
    });
    Ok(())
}

fn import_jsonl(
    store: &mut Store,
    file: &std::path::Path,
    validate_only: bool,
    batch: usize,
    out: Output,
) -> anyhow::Result<()> {
    let reader = BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let options = ImportOptions {
        batch_size: batch,
        validate_only,
    };
    let show = !out.json;
    let report = store.import_jsonl(reader, &options, &mut |p| {
        if show {
            eprint!(
                "\rimport: {} lines read, {} imported, {} failed   ",
                p.lines_read, p.imported, p.failed
            );
        }
    })?;
    if show {
        eprintln!();
    }
    let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    let totals = &report.totals;
    out.print(
        &json!({"lines": totals.lines_read, "imported": totals.imported, "already_present": totals.already_present,
                "failed": totals.failed, "validate_only": validate_only, "errors": errors}),
        || {
            let verb = if validate_only { "would import" } else { "imported" };
            let mut text = format!(
                "{verb} {} case(s); {} already present; {} line(s) refused",
                totals.imported, totals.already_present, totals.failed
            );
            for error in errors.iter().take(50) {
                text.push_str(&format!("\n  {error}"));
            }
            if errors.len() > 50 {
                text.push_str(&format!("\n  … and {} more (use --json for all)", errors.len() - 50));
            }
            text
        },
    );
    // A check that found refused lines has failed: a script running it before the real
    // import must be able to stop on the exit status alone.
    if validate_only && totals.failed > 0 {
        anyhow::bail!(
            "{} line(s) would be refused; nothing was written",
            totals.failed
        );
    }
    Ok(())
}
