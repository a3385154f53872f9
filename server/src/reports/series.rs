//! Report tables month by month (`GET /v1/reports/series`): the dashboard's trends.
//!
//! A series is nothing but a run of one-month reports: each month is computed over its own
//! calendar month and, for public output, published exactly as `GET /v1/reports?from=
//! YYYY-MM-01&to=<last day>` would publish it (a calendar month is one of the fixed periods
//! public figures may cover, and cell keys make the same cell show the same value in both).
//! So a series discloses nothing the month-by-month reports do not: the same disclosure
//! control, applied by the same code, to the same periods.

use super::format::{PerturbationBody, Scope};
use super::query::ParamError;
use super::table::Table;
use fieldcase_core::model::date::days_in_month;
use fieldcase_core::model::Date;
use serde::Serialize;

/// The longest series one request may ask for: three years, enough for a year and the same
/// year before it, and a bound on the work of one request (one pass per month).
pub const MAX_MONTHS: usize = 36;

/// The calendar months from `from` to `to`, as (first day, last day): the period must start on
/// the first of a month and end on the last day of a month, and span at most [`MAX_MONTHS`].
pub fn months(from: Option<Date>, to: Option<Date>) -> Result<Vec<(Date, Date)>, ParamError> {
    let whole = || {
        ParamError(
            "a series covers whole calendar months: give from=YYYY-MM-01 and to the last day \
             of a month (or year=YYYY)"
                .into(),
        )
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Err(whole());
    };
    if from.day() != 1 || to.day() != days_in_month(to.year(), to.month()) || from > to {
        return Err(whole());
    }
    let mut out = Vec::new();
    let (mut year, mut month) = (from.year(), from.month());
    while (year, month) <= (to.year(), to.month()) {
        if out.len() == MAX_MONTHS {
            return Err(ParamError(format!(
                "a series covers at most {MAX_MONTHS} months"
            )));
        }
        let first = Date::new(year, month, 1).ok_or_else(whole)?;
        let last = Date::new(year, month, days_in_month(year, month)).ok_or_else(whole)?;
        out.push((first, last));
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    Ok(out)
}

/// The JSON of a series.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesBody {
    pub scope: Scope,
    /// `individuals` or `assistance`.
    pub count: &'static str,
    /// `internal` (exact) or `public` (perturbed and suppressed, month by month).
    pub disclosure: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<PerturbationBody>,
    pub months: Vec<MonthBody>,
}

/// One month of a series: its tables as that month's report gives them.
#[derive(Clone, Debug, Serialize)]
pub struct MonthBody {
    /// `YYYY-MM`.
    pub month: String,
    pub tables: Vec<Table>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(t: &str) -> Option<Date> {
        Some(Date::parse(t).unwrap())
    }

    #[test]
    fn a_series_is_whole_months() {
        let m = months(d("2024-11-01"), d("2025-02-28")).unwrap();
        let firsts: Vec<String> = m.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(
            firsts,
            ["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]
        );
        assert_eq!(m[1].1.to_string(), "2024-12-31");
        assert_eq!(months(d("2024-02-01"), d("2024-02-29")).unwrap().len(), 1);
        for (from, to) in [
            (d("2025-01-02"), d("2025-01-31")),
            (d("2025-01-01"), d("2025-01-30")),
            (d("2025-03-01"), d("2025-01-31")),
            (None, d("2025-01-31")),
            (d("2025-01-01"), None),
            (d("2020-01-01"), d("2025-12-31")),
        ] {
            assert!(months(from, to).is_err(), "{from:?} {to:?}");
        }
        assert_eq!(months(d("2023-01-01"), d("2025-12-31")).unwrap().len(), 36);
    }
}
