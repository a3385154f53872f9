//! Writing reports: the JSON envelope, and one table as CSV or HXL-tagged CSV.
//!
//! CSV and HXL have the same layout: one line per row (the row's dimension values, then one
//! count per column, then the row total or the referral median where the table has them) and
//! a last line `total` with the column totals and grand total. A hidden count is
//! [`HIDDEN_COUNT`], as in text reports and on the dashboard (HXL and spreadsheet tools read it
//! as missing, not zero). HXL adds, as the second line,
//! the hashtag of each column (<https://hxlstandard.org>): `#country+code+origin` for a
//! nationality, `#region+name`, `#org+code+sender`, `#affected+num` for people counted,
//! `#reached+num+cases` for records, and so on ([`hxl_tag`]).

use super::table::{Cell, Table};
use serde::Serialize;

/// The JSON form of a report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportBody {
    pub period: Period,
    pub scope: Scope,
    /// `individuals` or `assistance`.
    pub count: &'static str,
    /// `internal` (exact) or `public` (suppressed).
    pub disclosure: &'static str,
    /// The suppression threshold applied; absent for internal reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// How duplicates were counted.
    pub individuals_rule: &'static str,
    /// Cases in confirmed duplicate links (individuals count only); perturbed like any count
    /// in public output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked_cases: Option<u64>,
    /// Public output: how the counts were perturbed (absent for exact figures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<PerturbationBody>,
    /// The newest sync of a device in scope (RFC 3339): the figures include nothing newer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_as_of: Option<String>,
    pub tables: Vec<Table>,
}

/// The published parameters of the perturbation (`docs/reports.md`, "Disclosure control").
#[derive(Clone, Debug, Serialize)]
pub struct PerturbationBody {
    /// `cell_key`.
    pub method: &'static str,
    /// The largest difference between a published count and the exact one.
    pub max_perturbation: u64,
    /// What a reader should know, in words.
    pub note: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Period {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scope {
    pub agency: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
}

/// The HXL hashtag of a dimension column.
pub fn hxl_tag(dimension: &str) -> &'static str {
    match dimension {
        "sex" => "#group+sex",
        "age_group" | "age_band" => "#group+age",
        "nationality" => "#country+code+origin",
        "country_of_assistance" => "#country+code+assistance",
        "region" => "#region+code",
        "programme" => "#activity+code",
        "category" => "#group+code+category",
        "exploitation" => "#indicator+code+exploitation",
        "labour_sector" => "#sector+code+labour",
        "trafficking_type" => "#indicator+code+trafficking",
        "reintegration_assistance" => "#service+code+reintegration",
        "service_type" => "#service+code",
        "from_agency" => "#org+code+sender",
        "to_agency" => "#org+code+receiver",
        _ => "#meta+code",
    }
}

/// The HXL hashtag of a count column.
fn count_tag(table: &Table, column: &str) -> String {
    let base = match table.unit {
        "individuals" | "individuals served" | "individuals referred" | "victims" => {
            "#affected+num".to_owned()
        }
        "services" => "#output+num+services".to_owned(),
        "referrals" => "#output+num+referrals".to_owned(),
        _ => "#reached+num+cases".to_owned(),
    };
    if column == "count" {
        return base;
    }
    // Attributes are lowercase letters, digits and underscores.
    let attribute: String = column
        .chars()
        .map(|c| match c {
            '+' => 'p',
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    let attribute = match column {
        "0-17" => "children".to_owned(),
        "18+" => "adults".to_owned(),
        _ => attribute,
    };
    format!("{base}+{attribute}")
}

/// How a hidden count is written everywhere a person reads one: CSV and HXL, the command
/// line's text reports and the dashboard (`dashboard/app.js`). One symbol for both kinds of
/// hiding: below a raised threshold, or hidden so another cannot be worked back from a total.
pub const HIDDEN_COUNT: &str = "x";

/// A count as written in CSV: the number, [`HIDDEN_COUNT`] when hidden, empty when the table
/// has no such count.
fn count_text(cell: Option<&Cell>) -> String {
    match cell {
        Some(Cell { count: Some(n), .. }) => n.to_string(),
        Some(Cell {
            suppressed: Some(_),
            ..
        }) => HIDDEN_COUNT.to_owned(),
        _ => String::new(),
    }
}

/// One table as CSV, with the HXL hashtag line when `hxl`.
pub fn table_csv(table: &Table, hxl: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let has_row_totals = table.rows.iter().any(|r| r.total.is_some());
    let has_median = table
        .rows
        .iter()
        .any(|r| r.median_hours_to_answer.is_some());
    let has_labels = table.rows.iter().any(|r| r.label.is_some());
    let mut header: Vec<String> = table
        .row_dimensions
        .iter()
        .map(|d| (*d).to_owned())
        .collect();
    let mut tags: Vec<String> = table
        .row_dimensions
        .iter()
        .map(|d| hxl_tag(d).to_owned())
        .collect();
    if has_labels {
        header.push(format!("{}_name", table.row_dimensions[0]));
        tags.push("#region+name".to_owned());
    }
    for c in &table.columns {
        header.push(c.clone());
        tags.push(count_tag(table, c));
    }
    if has_row_totals {
        header.push("total".to_owned());
        tags.push(count_tag(table, "total"));
    }
    if has_median {
        header.push("answered".to_owned());
        tags.push("#output+num+answered".to_owned());
        header.push("median_hours_to_answer".to_owned());
        tags.push("#value+median+hours".to_owned());
    }
    w.write_record(&header)?;
    if hxl {
        w.write_record(&tags)?;
    }
    for row in &table.rows {
        let mut line: Vec<String> = row.key.clone();
        if has_labels {
            line.push(row.label.clone().unwrap_or_default());
        }
        line.extend(row.cells.iter().map(|c| count_text(Some(c))));
        if has_row_totals {
            line.push(count_text(row.total.as_ref()));
        }
        if has_median {
            line.push(count_text(row.answered.as_ref()));
            line.push(
                row.median_hours_to_answer
                    .flatten()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            );
        }
        w.write_record(&line)?;
    }
    let mut total: Vec<String> = vec!["total".to_owned()];
    total.extend((1..table.row_dimensions.len()).map(|_| String::new()));
    if has_labels {
        total.push(String::new());
    }
    match &table.column_totals {
        Some(totals) => total.extend(totals.iter().map(|c| count_text(Some(c)))),
        None => total.push(count_text(table.total.as_ref())),
    }
    if has_row_totals {
        total.push(count_text(table.total.as_ref()));
    }
    if has_median {
        total.push(String::new());
        total.push(String::new());
    }
    w.write_record(&total)?;
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::table::Row;

    #[test]
    fn hxl_has_a_hashtag_line_and_hidden_counts_are_marked() {
        let table = Table {
            id: "by_nationality",
            title: "t",
            unit: "individuals",
            row_dimensions: vec!["nationality"],
            column_dimension: None,
            columns: vec!["count".into()],
            rows: vec![
                Row {
                    key: vec!["UGA".into()],
                    label: None,
                    cells: vec![Cell::new(12)],
                    total: None,
                    median_hours_to_answer: None,
                    answered: None,
                },
                Row {
                    key: vec!["KEN".into()],
                    label: None,
                    cells: vec![Cell {
                        count: None,
                        suppressed: Some(crate::reports::table::Suppression::Primary),
                        key: Default::default(),
                    }],
                    total: None,
                    median_hours_to_answer: None,
                    answered: None,
                },
            ],
            column_totals: None,
            total: Some(Cell::new(15)),
            additive: true,
            note: None,
        };
        let text = String::from_utf8(table_csv(&table, true).unwrap()).unwrap();
        assert_eq!(
            text,
            "nationality,count\n#country+code+origin,#affected+num\nUGA,12\nKEN,x\ntotal,15\n"
        );
        let plain = String::from_utf8(table_csv(&table, false).unwrap()).unwrap();
        assert!(!plain.contains('#'));
    }
}
