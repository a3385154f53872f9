//! Calendar dates: full dates (`YYYY-MM-DD`) and the partial dates of birth the field knows
//! (`YYYY-MM`, `YYYY`).
//!
//! A [`Date`] is always a real day of the proleptic Gregorian calendar between years 1 and 9999;
//! a [`PartialDate`] is a year, a month of a year, or a full date, each real. Parsing is strict
//! (four-digit year, two-digit month and day, `-` between) and tells a malformed text from an
//! impossible date (`2023-02-30`, month 13). Partial dates sort with a total order (by year, then
//! month, then day, a less precise date first) and answer "certainly before/after" questions
//! through their earliest and latest possible days. Ages are whole years. "Today" is the UTC
//! date of the system clock, computed here without a time-zone database; validation takes it as
//! a parameter so tests can fix it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// How many days past today (UTC) a date may be before it counts as "in the future".
///
/// Devices east of Greenwich (up to UTC+14) are already on tomorrow's date while UTC is still
/// on today's: a caseworker recording today's local date must not be told it is in the future.
pub const FUTURE_TOLERANCE_DAYS: i64 = 1;

/// Why a text is not the date asked for. Carries nothing of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not of the form `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    #[error("malformed date")]
    Malformed,
    /// Well formed, but no such day: month 13, `2023-02-30`, year 0.
    #[error("impossible date")]
    Impossible,
    /// A partial date (`YYYY-MM` or `YYYY`) where a full date is required.
    #[error("partial date where a full date is required")]
    Partial,
}

/// A full calendar date. `Ord` is chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#[allow(clippy::manual_is_multiple_of)]
fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn valid_year(year: u16) -> bool {
    (1..=9999).contains(&year)
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses a non-empty run of ASCII digits (widths are checked by the caller).
fn digits(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Date {
    /// The date, if it is a real day between years 1 and 9999.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let real = valid_year(year)
            && (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day);
        real.then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`; a well-formed `YYYY-MM` or `YYYY` is [`DateError::Partial`].
    pub fn parse(text: &str) -> Result<Date, DateError> {
        PartialDate::parse(text)?.full().ok_or(DateError::Partial)
    }

    /// Today's date in UTC, from the system clock (1970-01-01 if the clock is before that).
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date::from_days_since_epoch((secs / 86_400) as i64).unwrap_or(Date {
            year: 1970,
            month: 1,
            day: 1,
        })
    }

    /// The date `days` days after 1970-01-01 (before it, if negative), if within years 1..=9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year).ok()?;
        Date::new(year, month as u8, day as u8)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year.into(), self.month.into(), self.day.into())
    }

    /// The date `days` later (earlier, if negative), if within years 1..=9999.
    pub fn add_days(self, days: i64) -> Option<Date> {
        Date::from_days_since_epoch(self.days_since_epoch().checked_add(days)?)
    }

    /// Whether this date is after `today` plus [`FUTURE_TOLERANCE_DAYS`].
    pub fn is_future(self, today: Date) -> bool {
        self.days_since_epoch() > today.days_since_epoch() + FUTURE_TOLERANCE_DAYS
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// Whole years from `self` to `on`: the age on `on` of someone born on `self`. Negative
    /// when `on` is earlier (then it is minus the whole years from `on` to `self`). Someone born
    /// on 29 February is a year older on 1 March in a common year.
    pub fn whole_years_until(self, on: Date) -> i32 {
        if on < self {
            return -on.whole_years_until(self);
        }
        let years = i32::from(on.year) - i32::from(self.year);
        if (on.month, on.day) < (self.month, self.day) {
            years - 1
        } else {
            years
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

/// A date known to the year, the month, or the day. `Ord` is a total order for sorting: by year,
/// then month, then day, with a less precise date before the more precise dates it contains
/// (`2001` < `2001-01` < `2001-01-01` < `2001-02`). Whether one is certainly before another
/// day is [`PartialDate::is_before`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartialDate {
    /// `YYYY`
    Year(u16),
    /// `YYYY-MM`
    Month(u16, u8),
    /// `YYYY-MM-DD`
    Day(Date),
}

impl PartialDate {
    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<PartialDate, DateError> {
        let parts: Vec<&str> = text.split('-').collect();
        let widths_ok = match parts.as_slice() {
            [y] => y.len() == 4,
            [y, m] => y.len() == 4 && m.len() == 2,
            [y, m, d] => y.len() == 4 && m.len() == 2 && d.len() == 2,
            _ => false,
        };
        if !widths_ok {
            return Err(DateError::Malformed);
        }
        let numbers: Option<Vec<u16>> = parts.iter().map(|p| digits(p)).collect();
        let numbers = numbers.ok_or(DateError::Malformed)?;
        let year = numbers[0];
        if !valid_year(year) {
            return Err(DateError::Impossible);
        }
        match numbers[1..] {
            [] => Ok(PartialDate::Year(year)),
            [month] if (1..=12).contains(&month) => Ok(PartialDate::Month(year, month as u8)),
            [month, day] => Date::new(year, month as u8, day as u8)
                .map(PartialDate::Day)
                .ok_or(DateError::Impossible),
            _ => Err(DateError::Impossible),
        }
    }

    pub fn year(self) -> u16 {
        match self {
            PartialDate::Year(y) | PartialDate::Month(y, _) => y,
            PartialDate::Day(d) => d.year,
        }
    }

    pub fn month(self) -> Option<u8> {
        match self {
            PartialDate::Year(_) => None,
            PartialDate::Month(_, m) => Some(m),
            PartialDate::Day(d) => Some(d.month),
        }
    }

    pub fn day(self) -> Option<u8> {
        self.full().map(Date::day)
    }

    /// The full date, if this is one.
    pub fn full(self) -> Option<Date> {
        match self {
            PartialDate::Day(d) => Some(d),
            _ => None,
        }
    }

    /// The first day this date may be.
    pub fn earliest(self) -> Date {
        match self {
            PartialDate::Year(y) => Date {
                year: y,
                month: 1,
                day: 1,
            },
            PartialDate::Month(y, m) => Date {
                year: y,
                month: m,
                day: 1,
            },
            PartialDate::Day(d) => d,
        }
    }

    /// The last day this date may be.
    pub fn latest(self) -> Date {
        match self {
            PartialDate::Year(y) => Date {
                year: y,
                month: 12,
                day: 31,
            },
            PartialDate::Month(y, m) => Date {
                year: y,
                month: m,
                day: days_in_month(y, m),
            },
            PartialDate::Day(d) => d,
        }
    }

    /// Whether `day` falls within this date.
    pub fn contains(self, day: Date) -> bool {
        self.earliest() <= day && day <= self.latest()
    }

    /// Whether every day this date may be is before `day`.
    pub fn is_before(self, day: Date) -> bool {
        self.latest() < day
    }

    /// Whether every day this date may be is after `day`.
    pub fn is_after(self, day: Date) -> bool {
        self.earliest() > day
    }

    /// The youngest and oldest a person born on this date may be on `on`, or `None` if they
    /// are certainly not born yet on `on`.
    pub fn age_range_on(self, on: Date) -> Option<AgeRange> {
        if self.is_after(on) {
            return None;
        }
        let youngest = self.latest().min(on).whole_years_until(on);
        let oldest = self.earliest().whole_years_until(on);
        Some(AgeRange {
            min: youngest.max(0) as u32,
            max: oldest.max(0) as u32,
        })
    }

    fn sort_key(self) -> (u16, u8, u8) {
        (
            self.year(),
            self.month().unwrap_or(0),
            self.day().unwrap_or(0),
        )
    }
}

impl Ord for PartialDate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for PartialDate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<Date> for PartialDate {
    fn from(date: Date) -> Self {
        PartialDate::Day(date)
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialDate::Year(y) => write!(f, "{y:04}"),
            PartialDate::Month(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Day(d) => d.fmt(f),
        }
    }
}

impl std::str::FromStr for PartialDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartialDate::parse(s)
    }
}

/// An age in whole years known to lie between `min` and `max` (equal when the birth date is
/// known to the day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AgeRange {
    pub min: u32,
    pub max: u32,
}

macro_rules! serde_as_text {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_text!(Date);
serde_as_text!(PartialDate);

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn p(text: &str) -> PartialDate {
        PartialDate::parse(text).unwrap()
    }

    #[test]
    fn well_formed_dates_parse_and_print_back() {
        for text in [
            "2023",
            "2023-02",
            "2023-02-28",
            "2024-02-29",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        assert_eq!(p("2023"), PartialDate::Year(2023));
        assert_eq!(p("2023-07"), PartialDate::Month(2023, 7));
        assert_eq!(
            p("2023-07-04"),
            PartialDate::Day(Date::new(2023, 7, 4).unwrap())
        );
    }

    #[test]
    fn malformed_texts_are_told_from_impossible_dates() {
        for text in [
            "",
            "23",
            "2023-2-01",
            "2023-02-1",
            "2023/02/01",
            "01-02-2023",
            " 2023",
            "2023-",
            "2023-02-",
            "+2023",
            "2023-02-01T00:00",
            "２０２３",
            "2023-02-01-01",
            "20230201",
            "2023--01",
        ] {
            assert_eq!(
                PartialDate::parse(text),
                Err(DateError::Malformed),
                "{text:?}"
            );
        }
        for text in [
            "2023-02-30",
            "2023-13",
            "2023-13-01",
            "2023-00",
            "2023-01-00",
            "2023-04-31",
            "2023-02-29",
            "1900-02-29",
            "0000",
            "2023-01-32",
        ] {
            assert_eq!(
                PartialDate::parse(text),
                Err(DateError::Impossible),
                "{text:?}"
            );
        }
        assert!(
            PartialDate::parse("2000-02-29").is_ok(),
            "2000 is a leap year"
        );
    }

    #[test]
    fn full_dates_refuse_partial_ones() {
        assert_eq!(Date::parse("2023-05"), Err(DateError::Partial));
        assert_eq!(Date::parse("2023"), Err(DateError::Partial));
        assert_eq!(Date::parse("2023-05-32"), Err(DateError::Impossible));
        assert_eq!(Date::parse("May 2023"), Err(DateError::Malformed));
        assert_eq!(d("2023-05-01"), Date::new(2023, 5, 1).unwrap());
    }

    #[test]
    fn partial_dates_sort_by_year_month_day_less_precise_first() {
        let mut dates = [
            p("2001-02"),
            p("2001-01-01"),
            p("2000-12-31"),
            p("2001"),
            p("2001-01"),
            p("1999"),
        ];
        dates.sort();
        let sorted: Vec<String> = dates.iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            [
                "1999",
                "2000-12-31",
                "2001",
                "2001-01",
                "2001-01-01",
                "2001-02"
            ]
        );
        assert!(p("2001") < p("2001-01"));
        assert_ne!(p("2001"), p("2001-01"));
    }

    #[test]
    fn partial_dates_answer_certain_comparisons_only() {
        let year = p("2001");
        assert_eq!(year.earliest(), d("2001-01-01"));
        assert_eq!(year.latest(), d("2001-12-31"));
        assert_eq!(p("2024-02").latest(), d("2024-02-29"));
        assert_eq!(p("2023-02").latest(), d("2023-02-28"));
        assert!(year.contains(d("2001-06-15")));
        assert!(!year.contains(d("2002-01-01")));
        assert!(year.is_before(d("2002-01-01")));
        assert!(!year.is_before(d("2001-12-31")), "may be that very day");
        assert!(!year.is_after(d("2001-01-01")));
        assert!(year.is_after(d("2000-12-31")));
        let day = p("2001-03-04");
        assert!(day.is_before(d("2001-03-05")) && day.is_after(d("2001-03-03")));
    }

    #[test]
    fn ages_are_whole_years_and_partial_dates_give_ranges() {
        assert_eq!(d("2000-03-10").whole_years_until(d("2018-03-09")), 17);
        assert_eq!(d("2000-03-10").whole_years_until(d("2018-03-10")), 18);
        assert_eq!(d("2000-02-29").whole_years_until(d("2001-02-28")), 0);
        assert_eq!(d("2000-02-29").whole_years_until(d("2001-03-01")), 1);
        assert_eq!(d("2020-01-01").whole_years_until(d("2018-06-01")), -1);
        assert_eq!(
            p("2006").age_range_on(d("2024-03-01")),
            Some(AgeRange { min: 17, max: 18 })
        );
        assert_eq!(
            p("2006-01-01").age_range_on(d("2024-03-01")),
            Some(AgeRange { min: 18, max: 18 })
        );
        assert_eq!(
            p("2024").age_range_on(d("2024-03-01")),
            Some(AgeRange { min: 0, max: 0 })
        );
        assert_eq!(
            p("2024-04").age_range_on(d("2024-03-31")),
            None,
            "not born yet"
        );
    }

    #[test]
    fn epoch_day_arithmetic_matches_the_calendar() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
        assert_eq!(Date::from_days_since_epoch(19_782), Some(d("2024-02-29")));
        assert_eq!(d("2023-12-31").add_days(1), Some(d("2024-01-01")));
        assert_eq!(d("9999-12-31").add_days(1), None);
        for day in (-700_000..2_900_000).step_by(997) {
            let date = Date::from_days_since_epoch(day).unwrap();
            assert_eq!(date.days_since_epoch(), day);
        }
        assert!(
            Date::today() > d("2024-01-01"),
            "the system clock is after this code"
        );
    }

    #[test]
    fn the_future_allows_one_day_for_time_zones() {
        let today = d("2024-06-10");
        assert!(!today.is_future(today));
        assert!(!d("2024-06-11").is_future(today));
        assert!(d("2024-06-12").is_future(today));
    }

    #[test]
    fn dates_serialize_as_text() {
        assert_eq!(
            serde_json::to_value(p("2001-02")).unwrap(),
            serde_json::json!("2001-02")
        );
        let back: Date = serde_json::from_value(serde_json::json!("2001-02-03")).unwrap();
        assert_eq!(back, d("2001-02-03"));
        assert!(serde_json::from_value::<Date>(serde_json::json!("2001-02")).is_err());
    }
}
