//! The shape of every published figure: a table of counts with its margins.
//!
//! A table has rows (keyed by one or two dimension values), one or more count columns, and
//! the totals a reader could use to work a hidden cell back: a total per row (two-way tables),
//! a total per column, and a grand total. [`Table::lines`] lists those sums for disclosure
//! control ([`super::disclosure`]).

use super::cellkey::CellKey;
use serde::Serialize;

/// Why a cell is hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Below the threshold.
    Primary,
    /// Hidden so that a primary cell cannot be worked back from a total.
    Secondary,
}

/// One count. `count` is `null` when suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
    /// The cell key of the units counted ([`super::cellkey`]): what the published noise is
    /// drawn from. Never serialized: it stays on the server.
    #[serde(skip)]
    pub key: CellKey,
}

impl Cell {
    /// An exact count without a key (internal figures, tests).
    pub fn new(count: u64) -> Cell {
        Cell::keyed(count, CellKey::default())
    }

    /// An exact count with the key of its units.
    pub fn keyed(count: u64, key: CellKey) -> Cell {
        Cell {
            count: Some(count),
            suppressed: None,
            key,
        }
    }

    /// The count, hidden or not (disclosure control works on true counts before hiding).
    pub(crate) fn value(&self) -> u64 {
        self.count.unwrap_or(0)
    }
}

/// One row of a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The row's value of each row dimension (codes; `unknown` for a missing value, `other`
    /// for the rest of a top-N list).
    pub key: Vec<String>,
    /// A human name when the code is not one (regions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub cells: Vec<Cell>,
    /// Two-way tables: the row's total (distinct units in the row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Cell>,
    /// Referral tables: median hours from sending to the first answer (accept or decline);
    /// `null` when nothing was answered or when hidden (fewer answers than the threshold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_hours_to_answer: Option<Option<f64>>,
    /// Referral tables: how many answers the median is over (hidden with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<Cell>,
}

/// One published table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// Stable id, also the path segment of `/v1/reports/{table}`.
    pub id: &'static str,
    pub title: &'static str,
    /// What is counted: `individuals`, `records` (cases), `services` or `referrals`.
    pub unit: &'static str,
    /// The dimension (or dimensions) of the row keys.
    pub row_dimensions: Vec<&'static str>,
    /// The dimension of the columns; `None` for one-way tables (one column, `count`).
    pub column_dimension: Option<&'static str>,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// Total per column (two-way and referral tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_totals: Option<Vec<Cell>>,
    /// The grand total: distinct units in the table's population. For tables whose rows
    /// overlap (a person in several categories), less than the sum of the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Cell>,
    /// Whether the rows add up to the total (each unit in exactly one row).
    pub additive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// Where a cell lives in a table, for disclosure control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellRef {
    Cell(usize, usize),
    RowTotal(usize),
    ColumnTotal(usize),
    Total,
}

/// A sum a reader can see: the parts and the total they add up to (at most).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub parts: Vec<CellRef>,
    pub total: CellRef,
}

impl Table {
    /// Every published sum: each row with its row total, each column with its column total
    /// (or, for a one-way table, the column with the grand total), and the margins with the
    /// grand total.
    pub fn lines(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        let has_row_totals = self.rows.iter().any(|r| r.total.is_some());
        if has_row_totals {
            for (i, row) in self.rows.iter().enumerate() {
                if row.total.is_some() {
                    lines.push(Line {
                        parts: (0..row.cells.len()).map(|j| CellRef::Cell(i, j)).collect(),
                        total: CellRef::RowTotal(i),
                    });
                }
            }
        }
        for j in 0..self.columns.len() {
            let total = match (&self.column_totals, &self.total) {
                (Some(_), _) => CellRef::ColumnTotal(j),
                (None, Some(_)) if self.columns.len() == 1 => CellRef::Total,
                _ => continue,
            };
            lines.push(Line {
                parts: (0..self.rows.len()).map(|i| CellRef::Cell(i, j)).collect(),
                total,
            });
        }
        if self.total.is_some() {
            if has_row_totals {
                lines.push(Line {
                    parts: (0..self.rows.len()).map(CellRef::RowTotal).collect(),
                    total: CellRef::Total,
                });
            }
            if self.column_totals.is_some() {
                lines.push(Line {
                    parts: (0..self.columns.len()).map(CellRef::ColumnTotal).collect(),
                    total: CellRef::Total,
                });
            }
        }
        lines
    }

    pub fn cell(&self, at: CellRef) -> Option<&Cell> {
        match at {
            CellRef::Cell(i, j) => self.rows.get(i)?.cells.get(j),
            CellRef::RowTotal(i) => self.rows.get(i)?.total.as_ref(),
            CellRef::ColumnTotal(j) => self.column_totals.as_ref()?.get(j),
            CellRef::Total => self.total.as_ref(),
        }
    }

    pub fn cell_mut(&mut self, at: CellRef) -> Option<&mut Cell> {
        match at {
            CellRef::Cell(i, j) => self.rows.get_mut(i)?.cells.get_mut(j),
            CellRef::RowTotal(i) => self.rows.get_mut(i)?.total.as_mut(),
            CellRef::ColumnTotal(j) => self.column_totals.as_mut()?.get_mut(j),
            CellRef::Total => self.total.as_mut(),
        }
    }

    /// Every cell reference of the table.
    pub fn all_cells(&self) -> Vec<CellRef> {
        let mut out = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            out.extend((0..row.cells.len()).map(|j| CellRef::Cell(i, j)));
            if row.total.is_some() {
                out.push(CellRef::RowTotal(i));
            }
        }
        if let Some(totals) = &self.column_totals {
            out.extend((0..totals.len()).map(CellRef::ColumnTotal));
        }
        if self.total.is_some() {
            out.push(CellRef::Total);
        }
        out
    }
}
