//! The report engine: one pass over the facts rows in scope, counting into every table at once.
//!
//! Memory holds the group tables, not the rows: each row is read, counted and dropped. In
//! `count=individuals`, a case linked to others by a confirmed duplicate decision counts as its
//! individual (a small id set per cell, bounded by the number of linked cases); a case in no
//! confirmed link is an individual of its own and counts as 1. Probable duplicates nobody has
//! confirmed count as separate people: over-counting a little is safer than merging two people
//! on a guess, and the figure changes only when a person has looked.
//!
//! Services and referrals are read sorted by case, so one case's many services (or referrals)
//! count once per individual without remembering every case seen ([`super::activity`]).
//!
//! Every cell carries the key sum of its units ([`super::tally`], [`super::cellkey`]) when the
//! request asks for record keys (figures to be perturbed); exact figures compute no key.

pub use super::activity::{median_hours, REFERRAL_COLUMNS};
use super::activity::{referrals_table, services_table};
use super::cellkey::{CellKeys, UnitKind};
use super::facts::{CaseFactRow, FactFilter, AGE_BANDS, AGE_GROUPS, UNKNOWN};
use super::regions;
use super::table::{Cell, Row, Table};
use super::tally::{Individuals, OneWay, Tally, TwoWay, Unit};
use crate::storage::{Storage, StorageError};
use fieldcase_core::model::codes::*;
use fieldcase_core::RecordId;
use std::collections::{BTreeSet, HashSet};

/// How many rows the "top" tables list before folding the rest into `other`.
pub const TOP_N: usize = 10;

/// What a count counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountMode {
    /// Records: cases (and services, referrals) as recorded — "counts of assistance".
    Assistance,
    /// Unique individuals after confirmed duplicate links.
    Individuals,
}

impl CountMode {
    pub const CODES: [&'static str; 2] = ["assistance", "individuals"];
    pub fn parse(s: &str) -> Option<CountMode> {
        match s {
            "assistance" => Some(CountMode::Assistance),
            "individuals" => Some(CountMode::Individuals),
            _ => None,
        }
    }
}

/// Every table the engine makes, in the order reports list them.
pub const TABLE_IDS: [&str; 17] = [
    "by_sex",
    "by_age_group",
    "by_age_band",
    "by_sex_and_age_group",
    "by_nationality",
    "by_country_of_assistance",
    "by_region",
    "by_programme",
    "by_category",
    "victims_by_exploitation",
    "victims_by_labour_sector",
    "victims_by_trafficking_type",
    "victims_top_nationalities",
    "victims_top_countries_of_identification",
    "reintegration_by_type",
    "services_by_type",
    "referrals_by_agency_pair",
];

/// Tables whose rows are listed largest first (the rest are in a fixed order).
pub const RANKED_TABLES: [&str; 4] = [
    "by_nationality",
    "by_country_of_assistance",
    "victims_top_nationalities",
    "victims_top_countries_of_identification",
];

/// Row order of a table.
pub(super) enum Rows {
    /// Every code, then `unknown`.
    Fixed(Vec<&'static str>),
    /// Rows seen, largest first.
    ByCount,
    /// The `TOP_N` largest, then `other`.
    Top,
}

fn codes_and_unknown(codes: &[&'static str]) -> Rows {
    Rows::Fixed(with_unknown(codes))
}

/// Every code, then `unknown` unless the codes have one of their own (sex): a missing value
/// and the code `unknown` share one row.
fn with_unknown(codes: &[&'static str]) -> Vec<&'static str> {
    let mut rows = codes.to_vec();
    if !rows.contains(&UNKNOWN) {
        rows.push(UNKNOWN);
    }
    rows
}

/// What names a one-way table.
pub(super) struct Shape {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) unit: &'static str,
    pub(super) dimension: &'static str,
}

pub(super) fn one_way_table(
    acc: &OneWay,
    shape: Shape,
    rows: Rows,
    additive: bool,
    note: Option<&'static str>,
) -> Table {
    let Shape {
        id,
        title,
        unit,
        dimension,
    } = shape;
    let mut keys: Vec<&'static str> = match &rows {
        Rows::Fixed(r) => r.clone(),
        Rows::ByCount | Rows::Top => {
            let mut k: Vec<&'static str> = acc.cells.keys().copied().collect();
            k.sort_by_key(|key| (std::cmp::Reverse(acc.cells[key].value()), *key));
            k
        }
    };
    let mut other: Option<Tally> = None;
    if matches!(rows, Rows::Top) && keys.len() > TOP_N {
        let mut rest = Tally::default();
        for k in &keys[TOP_N..] {
            rest.merge(&acc.cells[k]);
        }
        keys.truncate(TOP_N);
        other = Some(rest);
    }
    let label = |k: &str| {
        if dimension == "region" {
            regions::by_id(k).map(|r| r.name.to_owned())
        } else {
            None
        }
    };
    let mut out_rows: Vec<Row> = keys
        .iter()
        .map(|k| Row {
            key: vec![(*k).to_owned()],
            label: label(k),
            cells: vec![acc.cells.get(k).map(Tally::cell).unwrap_or(Cell::new(0))],
            total: None,
            median_hours_to_answer: None,
            answered: None,
        })
        .collect();
    if let Some(rest) = other {
        out_rows.push(Row {
            key: vec!["other".to_owned()],
            label: None,
            cells: vec![rest.cell()],
            total: None,
            median_hours_to_answer: None,
            answered: None,
        });
    }
    Table {
        id,
        title,
        unit,
        row_dimensions: vec![dimension],
        column_dimension: None,
        columns: vec!["count".to_owned()],
        rows: out_rows,
        column_totals: None,
        total: Some(acc.total.cell()),
        additive,
        note,
    }
}

/// Everything counted from the case facts.
#[derive(Default)]
struct CaseTables {
    sex: OneWay,
    age_group: OneWay,
    age_band: OneWay,
    sex_age: TwoWay,
    nationality: OneWay,
    country: OneWay,
    region: OneWay,
    programme: OneWay,
    category: OneWay,
    exploitation: OneWay,
    labour: OneWay,
    trafficking: OneWay,
    victims_nationality: OneWay,
    victims_country: OneWay,
    reintegration: OneWay,
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> &'static str) -> &'static str {
    v.map(f).unwrap_or(UNKNOWN)
}

/// What a one-way case table is made of: its counts, names, rows, additivity and note.
type Spec<'a> = (&'a OneWay, Shape, Rows, bool, Option<&'static str>);

const MULTI: Option<&str> = Some("a person may be in several rows; the total counts each once");

impl CaseTables {
    /// The one-way table `id` (`None` for tables made elsewhere). `u` and `victims` name the
    /// unit counted in the current count mode.
    fn spec(&self, id: &'static str, u: &'static str, victims: &'static str) -> Option<Spec<'_>> {
        let shape = |title, unit, dimension| Shape {
            id,
            title,
            unit,
            dimension,
        };
        let bands: Vec<&'static str> = AGE_BANDS.iter().map(|b| b.0).collect();
        let region_ids: Vec<&'static str> = regions::all().iter().map(|r| r.id).collect();
        Some(match id {
            "by_sex" => (
                &self.sex,
                shape("By sex", u, "sex"),
                codes_and_unknown(Sex::CODES),
                true,
                None,
            ),
            "by_age_group" => (
                &self.age_group,
                shape("By age group at intake", u, "age_group"),
                codes_and_unknown(&AGE_GROUPS),
                true,
                None,
            ),
            "by_age_band" => (
                &self.age_band,
                shape("By age band at intake", u, "age_band"),
                codes_and_unknown(&bands),
                true,
                Some(
                    "a date of birth known only to the year can straddle two bands: unknown \
                     here, though its age group may be known",
                ),
            ),
            "by_nationality" => (
                &self.nationality,
                shape("By nationality", u, "nationality"),
                Rows::ByCount,
                true,
                None,
            ),
            "by_country_of_assistance" => (
                &self.country,
                shape("By country of assistance", u, "country_of_assistance"),
                Rows::ByCount,
                true,
                None,
            ),
            "by_region" => (
                &self.region,
                shape("By IOM region of the country of assistance", u, "region"),
                codes_and_unknown(&region_ids),
                true,
                None,
            ),
            "by_programme" => (
                &self.programme,
                shape("By programme", u, "programme"),
                codes_and_unknown(Programme::CODES),
                true,
                None,
            ),
            "by_category" => (
                &self.category,
                shape("By category", u, "category"),
                codes_and_unknown(Category::CODES),
                false,
                MULTI,
            ),
            "victims_by_exploitation" => (
                &self.exploitation,
                shape(
                    "Victims of trafficking by type of exploitation",
                    victims,
                    "exploitation",
                ),
                Rows::Fixed(exploitation_row_codes()),
                false,
                Some(
                    "sexual and labour exploitation together is its own row \
                     (sexual_and_labour), not counted under sexual or labour; other types may \
                     add rows",
                ),
            ),
            "victims_by_labour_sector" => (
                &self.labour,
                shape(
                    "Victims of labour exploitation by sector",
                    victims,
                    "labour_sector",
                ),
                codes_and_unknown(LabourSector::CODES),
                false,
                MULTI,
            ),
            "victims_by_trafficking_type" => (
                &self.trafficking,
                shape(
                    "Victims of trafficking: internal or international",
                    victims,
                    "trafficking_type",
                ),
                codes_and_unknown(TraffickingType::CODES),
                true,
                None,
            ),
            "victims_top_nationalities" => (
                &self.victims_nationality,
                shape(
                    "Victims of trafficking: top nationalities",
                    victims,
                    "nationality",
                ),
                Rows::Top,
                true,
                None,
            ),
            "victims_top_countries_of_identification" => (
                &self.victims_country,
                shape(
                    "Victims of trafficking: top countries of identification (assistance)",
                    victims,
                    "country_of_assistance",
                ),
                Rows::Top,
                true,
                None,
            ),
            "reintegration_by_type" => (
                &self.reintegration,
                shape(
                    "Reintegration assistance by type",
                    u,
                    "reintegration_assistance",
                ),
                Rows::Fixed(ReintegrationAssistance::CODES.to_vec()),
                false,
                MULTI,
            ),
            _ => return None,
        })
    }

    fn add(&mut self, row: &CaseFactRow, unit: Unit) {
        let f = &row.facts;
        let sex = opt(f.sex, Sex::as_str);
        let group = f.age_group.unwrap_or(UNKNOWN);
        self.sex.add(&[sex], unit);
        self.age_group.add(&[group], unit);
        self.age_band.add(&[f.age_band.unwrap_or(UNKNOWN)], unit);
        let t = &mut self.sex_age;
        t.cells.entry((sex, group)).or_default().add(unit);
        t.rows.entry(sex).or_default().add(unit);
        t.cols.entry(group).or_default().add(unit);
        t.total.add(unit);
        let nationality = opt(f.nationality, |c| c.as_str());
        let country = opt(f.country_of_assistance, |c| c.as_str());
        self.nationality.add(&[nationality], unit);
        self.country.add(&[country], unit);
        let region = f
            .country_of_assistance
            .and_then(regions::region_of)
            .map(|r| r.id)
            .unwrap_or(UNKNOWN);
        self.region.add(&[region], unit);
        self.programme
            .add(&[opt(f.programme, Programme::as_str)], unit);
        let categories: Vec<&'static str> = if f.categories.is_empty() {
            vec![UNKNOWN]
        } else {
            f.categories.iter().map(|c| c.as_str()).collect()
        };
        self.category.add(&categories, unit);
        if f.is_victim() {
            self.exploitation
                .add(&exploitation_rows(&f.exploitation_types), unit);
            if f.exploitation_types.contains(&ExploitationType::Labour) {
                let sectors: Vec<&'static str> = if f.labour_sectors.is_empty() {
                    vec![UNKNOWN]
                } else {
                    f.labour_sectors.iter().map(|s| s.as_str()).collect()
                };
                self.labour.add(&sectors, unit);
            }
            self.trafficking
                .add(&[opt(f.trafficking_type, TraffickingType::as_str)], unit);
            self.victims_nationality.add(&[nationality], unit);
            self.victims_country.add(&[country], unit);
        }
        if !f.reintegration_assistance.is_empty() {
            let types: Vec<&'static str> = f
                .reintegration_assistance
                .iter()
                .map(|s| s.as_str())
                .collect();
            self.reintegration.add(&types, unit);
        }
    }
}

/// The row code of victims exploited both sexually and for labour.
pub const SEXUAL_AND_LABOUR: &str = "sexual_and_labour";

/// Exploitation rows of one victim: `sexual` and `labour` together make the one row
/// `sexual_and_labour` (as the source reports them), not a count in each; every other type
/// is a row of its own.
pub fn exploitation_rows(types: &BTreeSet<ExploitationType>) -> Vec<&'static str> {
    let sexual = types.contains(&ExploitationType::Sexual);
    let labour = types.contains(&ExploitationType::Labour);
    let mut rows = Vec::new();
    if sexual && labour {
        rows.push(SEXUAL_AND_LABOUR);
    }
    for t in types {
        let both = sexual && labour;
        if both && matches!(t, ExploitationType::Sexual | ExploitationType::Labour) {
            continue;
        }
        rows.push(t.as_str());
    }
    if rows.is_empty() {
        rows.push(UNKNOWN);
    }
    rows
}

fn exploitation_row_codes() -> Vec<&'static str> {
    let mut rows = vec!["sexual", "labour", SEXUAL_AND_LABOUR];
    rows.extend(
        ExploitationType::CODES
            .iter()
            .filter(|c| !matches!(**c, "sexual" | "labour")),
    );
    rows.push(UNKNOWN);
    rows
}

/// What to compute.
#[derive(Clone, Debug)]
pub struct ReportRequest {
    pub filter: FactFilter,
    pub count: CountMode,
    /// Table ids to return (a subset of [`TABLE_IDS`]).
    pub tables: Vec<&'static str>,
    /// Record keys, for figures that will be perturbed ([`super::cellkey`]); `None` for exact
    /// figures (every cell key zero, and no key computed).
    pub keys: Option<CellKeys>,
}

/// The unit label of case tables in a count mode.
fn case_unit(count: CountMode) -> &'static str {
    match count {
        CountMode::Assistance => "cases",
        CountMode::Individuals => "individuals",
    }
}

/// Computes the requested tables with exact counts and their cell keys (disclosure control
/// comes after), and the number of cases in confirmed duplicate links (0 when counting
/// assistance).
pub fn compute(
    storage: &dyn Storage,
    request: &ReportRequest,
) -> Result<(Vec<Table>, Cell), StorageError> {
    let keys = request.keys.as_ref();
    let individuals = match request.count {
        CountMode::Assistance => Individuals::default(),
        CountMode::Individuals => {
            Individuals::from_links(&storage.confirmed_duplicate_links()?, keys)
        }
    };
    let key_of =
        |kind: UnitKind, record: RecordId| keys.map(|k| k.of(kind, record)).unwrap_or_default();
    let unit_of = |case: &RecordId| match (request.count, individuals.person(case)) {
        (CountMode::Individuals, Some((p, key))) => Unit::Person(p, key),
        _ => Unit::One(key_of(UnitKind::Case, *case)),
    };
    let owned_in_countries = owned_cases_in_countries(storage, request)?;
    let owned = |case: &RecordId| owned_in_countries.as_ref().is_none_or(|s| s.contains(case));
    let wants = |id: &str| request.tables.contains(&id);
    let mut out: Vec<Table> = Vec::new();

    let case_tables_wanted = TABLE_IDS[..15].iter().any(|id| wants(id));
    let mut ct = CaseTables::default();
    if case_tables_wanted {
        storage.scan_case_facts(&request.filter, &mut |row| {
            ct.add(&row, unit_of(&row.record))
        })?;
    }
    let u = case_unit(request.count);
    let victims = match request.count {
        CountMode::Assistance => "victim cases",
        CountMode::Individuals => "victims",
    };
    for id in TABLE_IDS {
        if !wants(id) {
            continue;
        }
        let table = if let Some((acc, shape, rows, additive, note)) = ct.spec(id, u, victims) {
            one_way_table(acc, shape, rows, additive, note)
        } else {
            match id {
                "by_sex_and_age_group" => two_way_table(&ct.sex_age, id, u),
                "services_by_type" => {
                    services_table(storage, request, &individuals, &key_of, &owned)?
                }
                "referrals_by_agency_pair" => {
                    referrals_table(storage, request, &individuals, &key_of, &owned)?
                }
                _ => continue,
            }
        };
        out.push(table);
    }
    Ok((out, individuals.linked()))
}

/// With an agency scope and a country (or region), the cases of that agency assisted there,
/// regardless of period; `None` without both.
///
/// Services an agency gave and referrals it received can belong to another agency's case,
/// whose country of assistance the scoped agency may never have been shown (consent decides
/// what a referral shares). Filtering those by country would answer "is this referred
/// person assisted in X?" for each X, so in an agency scope a country filter counts only the
/// agency's own cases' services and referrals.
fn owned_cases_in_countries(
    storage: &dyn Storage,
    request: &ReportRequest,
) -> Result<Option<HashSet<RecordId>>, StorageError> {
    let wants_linked_rows = request
        .tables
        .iter()
        .any(|t| matches!(*t, "services_by_type" | "referrals_by_agency_pair"));
    if request.filter.agency.is_none() || request.filter.countries.is_none() || !wants_linked_rows {
        return Ok(None);
    }
    let everywhen = FactFilter {
        from: None,
        to: None,
        ..request.filter.clone()
    };
    let mut owned = HashSet::new();
    storage.scan_case_facts(&everywhen, &mut |row| {
        owned.insert(row.record);
    })?;
    Ok(Some(owned))
}

fn two_way_table(acc: &TwoWay, id: &'static str, unit: &'static str) -> Table {
    let rows = with_unknown(Sex::CODES);
    let cols = with_unknown(&AGE_GROUPS);
    let value = |t: Option<&Tally>| t.map(Tally::cell).unwrap_or(Cell::new(0));
    Table {
        id,
        title: "By sex and age group at intake",
        unit,
        row_dimensions: vec!["sex"],
        column_dimension: Some("age_group"),
        columns: cols.iter().map(|c| (*c).to_owned()).collect(),
        rows: rows
            .iter()
            .map(|r| Row {
                key: vec![(*r).to_owned()],
                label: None,
                cells: cols
                    .iter()
                    .map(|c| value(acc.cells.get(&(*r, *c))))
                    .collect(),
                total: Some(value(acc.rows.get(r))),
                median_hours_to_answer: None,
                answered: None,
            })
            .collect(),
        column_totals: Some(cols.iter().map(|c| value(acc.cols.get(c))).collect()),
        total: Some(value(Some(&acc.total))),
        additive: true,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sexual_and_labour_is_one_row() {
        use ExploitationType::*;
        assert_eq!(
            exploitation_rows(&[Sexual, Labour].into()),
            vec![SEXUAL_AND_LABOUR]
        );
        assert_eq!(exploitation_rows(&[Sexual].into()), vec!["sexual"]);
        assert_eq!(
            exploitation_rows(&[Labour, Sexual, ForcedBegging].into()),
            vec![SEXUAL_AND_LABOUR, "forced_begging"]
        );
        assert_eq!(exploitation_rows(&BTreeSet::new()), vec![UNKNOWN]);
    }

    #[test]
    fn sex_by_age_group_has_one_unknown_row_and_column() {
        let table = two_way_table(&TwoWay::default(), "by_sex_and_age_group", "individuals");
        let keys: Vec<&str> = table.rows.iter().map(|r| r.key[0].as_str()).collect();
        assert_eq!(
            keys.iter().filter(|k| **k == UNKNOWN).count(),
            1,
            "{keys:?}"
        );
        assert_eq!(keys.last(), Some(&UNKNOWN));
        assert_eq!(
            table.columns.iter().filter(|c| *c == UNKNOWN).count(),
            1,
            "{:?}",
            table.columns
        );
    }
}
