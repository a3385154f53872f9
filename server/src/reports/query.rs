//! Report request parameters: parsing and checking them, with errors that list the allowed
//! values. Shared by the HTTP API and (through it) the command line.

use super::engine::{CountMode, TABLE_IDS};
use super::regions;
use fieldcase_core::model::{Country, Date};
use fieldcase_core::AgencyCode;
use std::collections::HashMap;

/// Every query parameter of `/v1/reports` and `/v1/reports/{table}`.
pub const PARAMS: [&str; 11] = [
    "from",
    "to",
    "year",
    "agency",
    "country",
    "region",
    "count",
    "disclosure",
    "threshold",
    "format",
    "tables",
];

/// Inside the network (exact) or for publication (suppressed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    Internal,
    Public,
}

impl Disclosure {
    pub const CODES: [&'static str; 2] = ["internal", "public"];
    pub fn as_str(self) -> &'static str {
        match self {
            Disclosure::Internal => "internal",
            Disclosure::Public => "public",
        }
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Hxl,
}

impl Format {
    pub const CODES: [&'static str; 3] = ["json", "csv", "hxl"];
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "hxl" => Some(Format::Hxl),
            _ => None,
        }
    }
}

/// A checked report request, before the caller's rights are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportParams {
    pub from: Option<Date>,
    pub to: Option<Date>,
    pub agency: Option<AgencyCode>,
    pub country: Option<Country>,
    pub region: Option<regions::Region>,
    pub count: CountMode,
    /// `None`: the default for the caller.
    pub disclosure: Option<Disclosure>,
    pub threshold: Option<u64>,
    pub format: Format,
    pub tables: Vec<&'static str>,
}

/// A parameter problem, worded for the person who sent it (codes and parameter names only).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

fn allowed(name: &str, values: &[&str]) -> ParamError {
    ParamError(format!("unknown {name}; allowed: {}", values.join(", ")))
}

fn day(name: &str, text: &str) -> Result<Date, ParamError> {
    Date::parse(text).map_err(|_| ParamError(format!("{name} must be a date YYYY-MM-DD")))
}

/// Parses the query parameters. `table` is the path's table, when the route has one.
pub fn parse(
    query: &HashMap<String, String>,
    table: Option<&str>,
) -> Result<ReportParams, ParamError> {
    let mut unknown: Vec<&str> = query
        .keys()
        .map(String::as_str)
        .filter(|k| !PARAMS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ParamError(format!(
            "unknown parameter {}; allowed: {}",
            unknown.join(", "),
            PARAMS.join(", ")
        )));
    }
    let get = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut from = get("from").map(|t| day("from", t)).transpose()?;
    let mut to = get("to").map(|t| day("to", t)).transpose()?;
    if let Some(year) = get("year") {
        if from.is_some() || to.is_some() {
            return Err(ParamError("give either year or from/to, not both".into()));
        }
        let y: u16 = year
            .parse()
            .ok()
            .filter(|y| (1900..=9999).contains(y))
            .ok_or_else(|| ParamError("year must be a year such as 2025".into()))?;
        from = Date::new(y, 1, 1);
        to = Date::new(y, 12, 31);
    }
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ParamError("from must not be after to".into()));
        }
    }
    let agency = get("agency")
        .map(|a| {
            AgencyCode::parse(a).map_err(|_| ParamError("agency is not an agency code".into()))
        })
        .transpose()?;
    let country = get("country")
        .map(|c| {
            Country::parse(c).map_err(|_| {
                ParamError(
                    "country must be an ISO 3166-1 alpha-3 code such as UGA (XKX for Kosovo)"
                        .into(),
                )
            })
        })
        .transpose()?;
    let region = get("region")
        .map(|r| {
            regions::by_id(r).ok_or_else(|| {
                let ids: Vec<&str> = regions::all().iter().map(|r| r.id).collect();
                allowed("region", &ids)
            })
        })
        .transpose()?;
    if country.is_some() && region.is_some() {
        return Err(ParamError("give either country or region, not both".into()));
    }
    let count = match get("count") {
        None => CountMode::Individuals,
        Some(c) => CountMode::parse(c).ok_or_else(|| allowed("count", &CountMode::CODES))?,
    };
    let disclosure = match get("disclosure") {
        None => None,
        Some("internal") => Some(Disclosure::Internal),
        Some("public") => Some(Disclosure::Public),
        Some(_) => return Err(allowed("disclosure", &Disclosure::CODES)),
    };
    let threshold = get("threshold")
        .map(|t| {
            t.parse::<u64>()
                .ok()
                .filter(|t| (1..=1000).contains(t))
                .ok_or_else(|| ParamError("threshold must be a whole number from 1 to 1000".into()))
        })
        .transpose()?;
    let format = match get("format") {
        None => Format::Json,
        Some(f) => Format::parse(f).ok_or_else(|| allowed("format", &Format::CODES))?,
    };
    let table_id = |t: &str| {
        TABLE_IDS
            .iter()
            .copied()
            .find(|id| *id == t)
            .ok_or_else(|| allowed("table", &TABLE_IDS))
    };
    let tables = match (table, get("tables")) {
        (Some(_), Some(_)) => {
            return Err(ParamError(
                "tables is for /v1/reports; this route is one table".into(),
            ))
        }
        (Some(t), None) => vec![table_id(t)?],
        (None, Some(list)) => list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(table_id)
            .collect::<Result<Vec<_>, _>>()?,
        (None, None) => TABLE_IDS.to_vec(),
    };
    if format != Format::Json && tables.len() != 1 {
        return Err(ParamError(
            "csv and hxl hold one table: use /v1/reports/{table}?format=csv (or hxl)".into(),
        ));
    }
    Ok(ReportParams {
        from,
        to,
        agency,
        country,
        region,
        count,
        disclosure,
        threshold,
        format,
        tables,
    })
}

/// Whether a period may be published: all time, or exactly one calendar month, quarter or
/// year. Public figures are perturbed ([`super::cellkey`]), and noise only protects a small
/// group when an adversary cannot isolate it in many different ways: with free days, the
/// intake of one day is the difference of hundreds of pairs of periods (from D to any later
/// end, minus from D+1 to the same end), each with its own noise, and averaging them removes
/// it. Fixed, nested periods leave a month at most a few overlapping ways to be isolated (its
/// quarter and its year minus the other months), each noisier than the month itself.
pub fn check_public_period(from: Option<Date>, to: Option<Date>) -> Result<(), ParamError> {
    let refuse = || {
        ParamError(
            "published figures cover all time or one calendar month, quarter or year: give \
             year=YYYY, or from=YYYY-MM-01 with to the last day of that month, quarter or year \
             (day-by-day periods are for exact figures inside the network)"
                .into(),
        )
    };
    let (from, to) = match (from, to) {
        (None, None) => return Ok(()),
        (Some(f), Some(t)) => (f, t),
        _ => return Err(refuse()),
    };
    if from.day() != 1 || from.year() != to.year() {
        return Err(refuse());
    }
    let last_month = match to.month() - from.month() {
        0 => from.month(),
        2 if from.month() % 3 == 1 => from.month() + 2,
        11 if from.month() == 1 => 12,
        _ => return Err(refuse()),
    };
    if to.month() != last_month
        || to.day() != fieldcase_core::model::date::days_in_month(to.year(), to.month())
    {
        return Err(refuse());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn bad_parameters_name_the_allowed_values() {
        let e = parse(&q(&[("grouping", "x")]), None).unwrap_err();
        assert!(
            e.0.contains("unknown parameter grouping") && e.0.contains("disclosure"),
            "{e}"
        );
        let e = parse(&q(&[("count", "people")]), None).unwrap_err();
        assert!(e.0.contains("assistance, individuals"), "{e}");
        let e = parse(&q(&[("region", "mars")]), None).unwrap_err();
        assert!(e.0.contains("east_southern_africa"), "{e}");
        let e = parse(&q(&[]), Some("by_planet")).unwrap_err();
        assert!(e.0.contains("by_sex"), "{e}");
        assert!(parse(&q(&[("year", "2025"), ("from", "2025-01-01")]), None).is_err());
        assert!(parse(&q(&[("format", "csv")]), None).is_err());
    }

    #[test]
    fn public_periods_are_whole_months_quarters_or_years() {
        let d = |t: &str| Some(Date::parse(t).unwrap());
        for (from, to) in [
            (None, None),
            (d("2025-01-01"), d("2025-12-31")),
            (d("2025-04-01"), d("2025-06-30")),
            (d("2024-02-01"), d("2024-02-29")),
            (d("2025-12-01"), d("2025-12-31")),
        ] {
            assert!(check_public_period(from, to).is_ok(), "{from:?} {to:?}");
        }
        for (from, to) in [
            (d("2025-01-02"), d("2025-12-31")),
            (d("2025-03-01"), d("2025-05-31")),
            (d("2025-01-01"), d("2025-12-30")),
            (d("2025-01-01"), d("2026-12-31")),
            (
                d("2025-02-01"),
                d("2025-02-28").and_then(|x| x.add_days(-1)),
            ),
            (d("2025-01-01"), None),
            (None, d("2025-01-31")),
            (d("2025-01-01"), d("2025-02-28")),
        ] {
            assert!(check_public_period(from, to).is_err(), "{from:?} {to:?}");
        }
    }

    #[test]
    fn a_year_is_a_period() {
        let p = parse(
            &q(&[("year", "2025"), ("region", "east_southern_africa")]),
            Some("by_sex"),
        )
        .unwrap();
        assert_eq!(p.from, Date::new(2025, 1, 1));
        assert_eq!(p.to, Date::new(2025, 12, 31));
        assert_eq!(p.tables, vec!["by_sex"]);
        assert_eq!(p.count, CountMode::Individuals);
    }
}
