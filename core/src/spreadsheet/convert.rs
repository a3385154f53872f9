//! One cell into one value of a case field: dates, countries, codes, yes/no, whole numbers.
//!
//! Each converter takes a [`Cell`] as a spreadsheet holds it and answers with the value in the
//! case model's own form (`"2001-03-04"`, `"UGA"`, `"female"`, `true`, `17`) or a
//! [`CellProblem`] built from static text only — never the cell's content. The case model
//! still checks every value afterwards (bounds, future dates, the rules between fields); these
//! converters only read what people write into what the model reads:
//!
//! - dates: `2001-03-04`, `04/03/2001`, `4.3.2001`, `4-3-2001` (day first unless the mapping
//!   says month first), `03/2001`, `2001`, with a time after them ignored, and date cells of a
//!   workbook; a two-digit year is refused rather than guessed;
//! - countries: ISO 3166-1 alpha-3 or alpha-2 codes in any case, English and French names;
//! - codes: the code itself in any spelling (`Victim of trafficking`), common English and
//!   French labels (`F`, `Femme`, `Homme`), and the mapping file's own labels;
//! - yes/no: yes/no, y/n, true/false, 1/0, x, oui/non, vrai/faux;
//! - whole numbers: `17`, `17.0`, `17,0` (decimal comma), number cells.

use super::{fold, Cell};
use crate::model::{country, is_iso3, Date, PartialDate};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// How a date written with slashes or dots orders its day and month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    /// `04/03/2001` is 4 March: most of the world, and the default.
    #[default]
    DayFirst,
    /// `03/04/2001` is 4 March: the United States.
    MonthFirst,
}

/// Why a cell could not be read. Static text only: it never repeats the cell.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CellProblem {
    #[error("not a date: expected YYYY-MM-DD, DD/MM/YYYY, D.M.YYYY, MM/YYYY, YYYY or a date cell")]
    NotADate,
    #[error("impossible date (no such month or day; is the day/month order right?)")]
    ImpossibleDate,
    #[error("two-digit year: write the year in full")]
    TwoDigitYear,
    #[error("a full date is required, not a month or a year")]
    PartialDate,
    #[error("not a country: expected an English or French country name, or an ISO 3166-1 code")]
    NotACountry,
    #[error("not yes or no (yes/no, y/n, true/false, 1/0, oui/non)")]
    NotYesNo,
    #[error("not a whole number")]
    NotAWholeNumber,
    #[error("no code matches; allowed codes: {}", .allowed.join(", "))]
    UnknownCode { allowed: &'static [&'static str] },
    #[error("an error cell of the workbook (#N/A, #REF!…)")]
    ErrorCell,
}

/// Whether a cell means "nothing recorded": blank, punctuation only (`-`, `?`), or one of the
/// markers people type for it (`N/A`, `NA`, `null`). Such a cell is skipped, not refused.
pub fn is_missing(cell: &Cell) -> bool {
    match cell {
        Cell::Empty => true,
        Cell::Text(text) => {
            let folded = fold(text);
            folded.is_empty() || MISSING_MARKERS.contains(&folded.as_str())
        }
        _ => false,
    }
}

/// Folded texts that mean "not recorded". `NA` is among them, so Namibia is written `NAM`
/// or by name.
const MISSING_MARKERS: [&str; 4] = ["na", "nan", "null", "nil"];

/// Text for a text field: trimmed; a number cell as Excel shows it.
pub fn text(cell: &Cell) -> Result<String, CellProblem> {
    match cell {
        Cell::Error => Err(CellProblem::ErrorCell),
        other => Ok(other.as_text()),
    }
}

/// A date: full, or (when `partial_ok`) `YYYY-MM` or `YYYY`; in the case model's text form.
pub fn date(cell: &Cell, order: DateOrder, partial_ok: bool) -> Result<String, CellProblem> {
    let partial = match cell {
        Cell::Date(date) => PartialDate::Day(*date),
        Cell::Number(n) => number_as_date(*n)?,
        Cell::Text(text) => parse_date_text(text, order)?,
        Cell::Bool(_) | Cell::Empty => return Err(CellProblem::NotADate),
        Cell::Error => return Err(CellProblem::ErrorCell),
    };
    if !partial_ok && partial.full().is_none() {
        return Err(CellProblem::PartialDate);
    }
    Ok(partial.to_string())
}

/// A number cell in a date column: a year (1000 to 2999, as people type a year of birth),
/// else an Excel serial date whose date format was lost.
fn number_as_date(n: f64) -> Result<PartialDate, CellProblem> {
    if n.fract() != 0.0 || !(1.0..=2_958_465.0).contains(&n) {
        return Err(CellProblem::NotADate);
    }
    if (1000.0..3000.0).contains(&n) {
        return Ok(PartialDate::Year(n as u16));
    }
    excel_serial_date(n)
        .map(PartialDate::Day)
        .ok_or(CellProblem::NotADate)
}

/// The date of an Excel serial day number (1900 date system): day 1 is 1900-01-01, and day 60
/// is the 29 February 1900 that Lotus 1-2-3 invented and Excel kept, so later days count from
/// 1899-12-30.
pub fn excel_serial_date(serial: f64) -> Option<Date> {
    let days = serial.floor() as i64;
    if days < 1 || days == 60 {
        return None;
    }
    let epoch = Date::new(1899, 12, if days < 60 { 31 } else { 30 })?;
    epoch.add_days(days)
}

fn parse_date_text(text: &str, order: DateOrder) -> Result<PartialDate, CellProblem> {
    let text = text.trim();
    // A time after the date ("2001-03-04 00:00:00", "2001-03-04T10:00") is dropped.
    let date_part = text
        .split_once([' ', 'T'])
        .filter(|(_, rest)| rest.contains(':'))
        .map_or(text, |(date, _)| date);
    let separator = date_part.chars().find(|c| matches!(c, '-' | '/' | '.'));
    let parts: Vec<&str> = match separator {
        Some(sep) => date_part.split(sep).map(str::trim).collect(),
        None => vec![date_part],
    };
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4)
    {
        return Err(CellProblem::NotADate);
    }
    let number = |p: &str| p.parse::<u16>().map_err(|_| CellProblem::NotADate);
    let four = |p: &str| p.len() == 4;
    let (year, month, day) = match parts.as_slice() {
        [y] if four(y) => (number(y)?, None, None),
        [y, m] if four(y) => (number(y)?, Some(number(m)?), None),
        [m, y] if four(y) => (number(y)?, Some(number(m)?), None),
        [y, m, d] if four(y) => (number(y)?, Some(number(m)?), Some(number(d)?)),
        [a, b, y] if four(y) => {
            let (d, m) = match order {
                DateOrder::DayFirst => (a, b),
                DateOrder::MonthFirst => (b, a),
            };
            (number(y)?, Some(number(m)?), Some(number(d)?))
        }
        [_, _, y] if y.len() <= 2 => return Err(CellProblem::TwoDigitYear),
        [y, _, _] if y.len() <= 2 && separator == Some('-') => {
            return Err(CellProblem::TwoDigitYear)
        }
        _ => return Err(CellProblem::NotADate),
    };
    let canonical = match (month, day) {
        (None, _) => format!("{year:04}"),
        (Some(m), None) => format!("{year:04}-{m:02}"),
        (Some(m), Some(d)) => format!("{year:04}-{m:02}-{d:02}"),
    };
    if month.is_some_and(|m| m > 99) || day.is_some_and(|d| d > 99) {
        return Err(CellProblem::ImpossibleDate);
    }
    PartialDate::parse(&canonical).map_err(|_| CellProblem::ImpossibleDate)
}

/// A country as its ISO 3166-1 alpha-3 code.
pub fn country(cell: &Cell) -> Result<&'static str, CellProblem> {
    let text = match cell {
        Cell::Text(text) => text.trim(),
        Cell::Error => return Err(CellProblem::ErrorCell),
        _ => return Err(CellProblem::NotACountry),
    };
    let upper = text.to_ascii_uppercase();
    if upper.len() == 3 && is_iso3(&upper) {
        return country::Country::parse(&upper)
            .map(country::Country::as_str)
            .map_err(|_| CellProblem::NotACountry);
    }
    let names = country_names();
    if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_alphabetic()) {
        return names
            .alpha2
            .get(&upper)
            .copied()
            .ok_or(CellProblem::NotACountry);
    }
    names
        .by_name
        .get(&fold(text))
        .copied()
        .ok_or(CellProblem::NotACountry)
}

/// The country table: alpha-2 codes and folded names to alpha-3 codes.
struct CountryNames {
    alpha2: HashMap<String, &'static str>,
    by_name: HashMap<String, &'static str>,
}

/// `ISO3;ISO2;English names;French names`, alternatives separated by `|`.
const COUNTRY_TABLE: &str = include_str!("countries.txt");

fn country_names() -> &'static CountryNames {
    static NAMES: OnceLock<CountryNames> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = CountryNames {
            alpha2: HashMap::new(),
            by_name: HashMap::new(),
        };
        for line in COUNTRY_TABLE.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split(';');
            let (Some(iso3), Some(iso2)) = (parts.next(), parts.next()) else {
                continue;
            };
            // Only codes the model accepts: the table cannot widen the country list.
            let Ok(country) = country::Country::parse(iso3) else {
                continue;
            };
            names.alpha2.insert(iso2.to_owned(), country.as_str());
            for name in parts.flat_map(|p| p.split('|')) {
                names.by_name.insert(fold(name), country.as_str());
            }
        }
        names
    })
}

/// Yes or no.
pub fn yes_no(cell: &Cell) -> Result<bool, CellProblem> {
    match cell {
        Cell::Bool(b) => Ok(*b),
        Cell::Number(n) if *n == 1.0 => Ok(true),
        Cell::Number(n) if *n == 0.0 => Ok(false),
        Cell::Text(text) => match fold(text).as_str() {
            "yes" | "y" | "true" | "1" | "x" | "oui" | "o" | "vrai" | "si" => Ok(true),
            "no" | "n" | "false" | "0" | "non" | "faux" => Ok(false),
            _ => Err(CellProblem::NotYesNo),
        },
        Cell::Error => Err(CellProblem::ErrorCell),
        _ => Err(CellProblem::NotYesNo),
    }
}

/// A whole number: `17`, `17.0`, or `17,0` as a French-locale file writes it.
pub fn whole_number(cell: &Cell) -> Result<u64, CellProblem> {
    let n = match cell {
        Cell::Number(n) => *n,
        Cell::Text(text) => text
            .trim()
            .replace(',', ".")
            .parse::<f64>()
            .map_err(|_| CellProblem::NotAWholeNumber)?,
        Cell::Error => return Err(CellProblem::ErrorCell),
        _ => return Err(CellProblem::NotAWholeNumber),
    };
    if n.fract() != 0.0 || !(0.0..1e15).contains(&n) {
        return Err(CellProblem::NotAWholeNumber);
    }
    Ok(n as u64)
}

/// Labels of codes: folded label → code, per field key.
pub type Labels = BTreeMap<String, BTreeMap<String, &'static str>>;

/// A code of the set `allowed` for field `key`: the mapping's labels first, then the common
/// labels below, then the code itself in any spelling.
pub fn code(
    text: &str,
    key: &str,
    allowed: &'static [&'static str],
    labels: &Labels,
) -> Result<&'static str, CellProblem> {
    let folded = fold(text);
    if let Some(code) = labels.get(key).and_then(|l| l.get(&folded)) {
        return Ok(code);
    }
    let common = COMMON_LABELS
        .iter()
        .filter(|(k, _, _)| *k == key)
        .find(|(_, label, _)| *label == folded)
        .map(|(_, _, code)| *code);
    if let Some(code) = common.and_then(|c| allowed.iter().find(|a| **a == c)) {
        return Ok(code);
    }
    allowed
        .iter()
        .find(|code| fold(code) == folded)
        .copied()
        .ok_or(CellProblem::UnknownCode { allowed })
}

/// Common labels of codes in English and French, already folded: (field key, label, code).
const COMMON_LABELS: &[(&str, &str, &str)] = &[
    ("sex", "f", "female"),
    ("sex", "woman", "female"),
    ("sex", "girl", "female"),
    ("sex", "femme", "female"),
    ("sex", "fille", "female"),
    ("sex", "feminin", "female"),
    ("sex", "m", "male"),
    ("sex", "man", "male"),
    ("sex", "boy", "male"),
    ("sex", "homme", "male"),
    ("sex", "h", "male"),
    ("sex", "garcon", "male"),
    ("sex", "masculin", "male"),
    ("sex", "autre", "other"),
    ("sex", "inconnu", "unknown"),
    ("sex", "u", "unknown"),
    ("status", "ouvert", "open"),
    ("status", "new", "open"),
    ("status", "nouveau", "open"),
    ("status", "actif", "active"),
    ("status", "ongoing", "active"),
    ("status", "encours", "active"),
    ("status", "ferme", "closed"),
    ("status", "cloture", "closed"),
    ("risk_level", "faible", "low"),
    ("risk_level", "bas", "low"),
    ("risk_level", "moyen", "medium"),
    ("risk_level", "eleve", "high"),
    ("risk_level", "haut", "high"),
    ("trafficking_type", "interne", "internal"),
    ("trafficking_type", "domestic", "internal"),
    ("trafficking_type", "internationale", "international"),
    ("trafficking_type", "transnational", "international"),
    ("trafficking_type", "crossborder", "international"),
    ("programme", "assistancedirecte", "direct_assistance"),
    ("programme", "autre", "other"),
    ("categories", "vot", "victim_of_trafficking"),
    ("categories", "victimedetraite", "victim_of_trafficking"),
    ("categories", "uamc", "unaccompanied_migrant_child"),
    (
        "categories",
        "unaccompaniedminor",
        "unaccompanied_migrant_child",
    ),
    (
        "categories",
        "mineurnonaccompagne",
        "unaccompanied_migrant_child",
    ),
    ("categories", "migrantbloque", "stranded_migrant"),
    ("exploitation_types", "sexuelle", "sexual"),
    ("exploitation_types", "sexualexploitation", "sexual"),
    ("exploitation_types", "travail", "labour"),
    ("exploitation_types", "travailforce", "labour"),
    ("exploitation_types", "forcedlabour", "labour"),
    ("exploitation_types", "labor", "labour"),
    ("exploitation_types", "mendicite", "forced_begging"),
    ("exploitation_types", "mendiciteforcee", "forced_begging"),
    (
        "exploitation_types",
        "servitudedomestique",
        "domestic_servitude",
    ),
    ("exploitation_types", "mariageforce", "forced_marriage"),
    ("exploitation_types", "autre", "other"),
    ("labour_sectors", "btp", "construction"),
    ("labour_sectors", "peche", "fishing"),
    ("labour_sectors", "mines", "mining"),
    ("labour_sectors", "travaildomestique", "domestic_work"),
    ("labour_sectors", "hotellerie", "hospitality"),
    ("labour_sectors", "mendicite", "begging"),
    ("labour_sectors", "autre", "other"),
    ("closure_reason", "completed", "assistance_completed"),
    (
        "closure_reason",
        "assistanceterminee",
        "assistance_completed",
    ),
    ("closure_reason", "transfere", "transferred"),
    ("closure_reason", "perdudevue", "lost_contact"),
    ("closure_reason", "decede", "deceased"),
    ("closure_reason", "autre", "other"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sex;

    fn t(text: &str) -> Cell {
        Cell::Text(text.into())
    }

    #[test]
    fn dates_in_the_formats_offices_write() {
        let day_first = |text: &str| date(&t(text), DateOrder::DayFirst, true);
        for text in [
            "2001-03-04",
            "04/03/2001",
            "4/3/2001",
            "4.3.2001",
            "04-03-2001",
            " 2001/03/04 ",
            "2001-03-04 00:00:00",
            "2001-03-04T00:00:00",
        ] {
            assert_eq!(day_first(text).as_deref(), Ok("2001-03-04"), "{text}");
        }
        assert_eq!(
            date(&t("03/04/2001"), DateOrder::MonthFirst, true).as_deref(),
            Ok("2001-03-04")
        );
        assert_eq!(day_first("03/2001").as_deref(), Ok("2001-03"));
        assert_eq!(day_first("2001").as_deref(), Ok("2001"));
        assert_eq!(day_first("31/02/2001"), Err(CellProblem::ImpossibleDate));
        assert_eq!(day_first("03/14/2001"), Err(CellProblem::ImpossibleDate));
        assert_eq!(day_first("04/03/01"), Err(CellProblem::TwoDigitYear));
        assert_eq!(day_first("yesterday"), Err(CellProblem::NotADate));
        assert_eq!(day_first("Amina"), Err(CellProblem::NotADate));
        assert_eq!(
            date(&t("2001"), DateOrder::DayFirst, false),
            Err(CellProblem::PartialDate)
        );
    }

    #[test]
    fn excel_serial_dates_follow_the_1900_system() {
        let d = |s: f64| excel_serial_date(s).map(|d| d.to_string());
        assert_eq!(d(1.0).as_deref(), Some("1900-01-01"));
        assert_eq!(d(59.0).as_deref(), Some("1900-02-28"));
        assert_eq!(d(60.0), None, "Lotus's 29 February 1900");
        assert_eq!(d(61.0).as_deref(), Some("1900-03-01"));
        assert_eq!(d(36954.0).as_deref(), Some("2001-03-04"));
        assert_eq!(
            date(&Cell::Number(36954.0), DateOrder::DayFirst, false).as_deref(),
            Ok("2001-03-04")
        );
        assert_eq!(
            date(&Cell::Number(1990.0), DateOrder::DayFirst, true).as_deref(),
            Ok("1990"),
            "a year typed as a number"
        );
    }

    #[test]
    fn countries_by_code_or_name_in_english_and_french() {
        for (text, code) in [
            ("UGA", "UGA"),
            ("uga", "UGA"),
            ("UG", "UGA"),
            ("Uganda", "UGA"),
            ("Ouganda", "UGA"),
            ("  côte d'ivoire ", "CIV"),
            ("Ivory Coast", "CIV"),
            ("Érythrée", "ERI"),
            ("RDC", "COD"),
            ("Kosovo", "XKX"),
            ("Royaume-Uni", "GBR"),
        ] {
            assert_eq!(country(&t(text)), Ok(code), "{text}");
        }
        assert_eq!(country(&t("Atlantis")), Err(CellProblem::NotACountry));
        assert_eq!(country(&t("XX")), Err(CellProblem::NotACountry));
    }

    #[test]
    fn every_country_name_names_one_country() {
        let mut seen: HashMap<String, &str> = HashMap::new();
        let mut count = 0;
        for line in COUNTRY_TABLE.lines().filter(|l| !l.starts_with('#')) {
            let parts: Vec<&str> = line.split(';').collect();
            assert_eq!(parts.len(), 4, "{line}");
            assert!(is_iso3(parts[0]), "{line}");
            count += 1;
            for name in parts[2..].iter().flat_map(|p| p.split('|')) {
                if let Some(other) = seen.insert(fold(name), parts[0]) {
                    assert_eq!(other, parts[0], "{name} names two countries");
                }
            }
        }
        assert_eq!(
            count,
            crate::model::COUNTRY_CODES.len(),
            "every code has names"
        );
        assert_eq!(country_names().alpha2.len(), count);
    }

    #[test]
    fn yes_no_numbers_and_missing_markers() {
        for yes in ["Yes", "y", "TRUE", "1", "x", "Oui", "vrai"] {
            assert_eq!(yes_no(&t(yes)), Ok(true), "{yes}");
        }
        for no in ["No", "n", "false", "0", "Non"] {
            assert_eq!(yes_no(&t(no)), Ok(false), "{no}");
        }
        assert_eq!(yes_no(&t("maybe")), Err(CellProblem::NotYesNo));
        assert_eq!(yes_no(&Cell::Bool(true)), Ok(true));
        assert_eq!(whole_number(&t("17")), Ok(17));
        assert_eq!(whole_number(&t("17,0")), Ok(17));
        assert_eq!(whole_number(&Cell::Number(17.0)), Ok(17));
        assert_eq!(whole_number(&t("17,5")), Err(CellProblem::NotAWholeNumber));
        for missing in ["", "  ", "-", "N/A", "n.a.", "NULL", "?"] {
            assert!(is_missing(&t(missing)), "{missing}");
        }
        assert!(!is_missing(&t("none")));
        assert!(!is_missing(&t("unknown")));
    }

    #[test]
    fn codes_by_label_or_code() {
        let mut labels = Labels::new();
        labels
            .entry("sex".into())
            .or_default()
            .insert(fold("Mwanamke"), "female");
        let sex = |text: &str| code(text, "sex", Sex::CODES, &labels);
        for (text, expected) in [
            ("F", "female"),
            ("Female", "female"),
            ("Femme", "female"),
            ("M", "male"),
            ("Homme", "male"),
            ("H", "male"),
            ("Mwanamke", "female"),
            ("UNKNOWN", "unknown"),
        ] {
            assert_eq!(sex(text), Ok(expected), "{text}");
        }
        assert!(matches!(sex("Z"), Err(CellProblem::UnknownCode { .. })));
        let category = code(
            "Victim of trafficking",
            "categories",
            crate::model::Category::CODES,
            &labels,
        );
        assert_eq!(category, Ok("victim_of_trafficking"));
    }

    #[test]
    fn problems_never_quote_the_cell() {
        for problem in [
            date(&t("Zaynab"), DateOrder::DayFirst, true).unwrap_err(),
            country(&t("Zaynab")).unwrap_err(),
            yes_no(&t("Zaynab")).unwrap_err(),
            whole_number(&t("Zaynab")).unwrap_err(),
        ] {
            assert!(!problem.to_string().contains("Zaynab"));
        }
    }
}
