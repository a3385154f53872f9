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
//! count once per individual without remembering every case seen.

use super::cellkey::{CellKey, CellKeys, UnitKind};
use super::facts::{
    CaseFactRow, FactFilter, ReferralFactRow, ServiceFactRow, AGE_BANDS, AGE_GROUPS, UNKNOWN,
};
use super::regions;
use super::table::{Cell, Row, Table};
use crate::storage::{Storage, StorageError};
use fieldcase_core::model::codes::*;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

/// Confirmed duplicate links as individuals: each linked case mapped to its individual and
/// the individual's record key.
///
/// An individual's key is the key of its smallest linked case id: fixed while its links do
/// not change, whichever of its records a request happens to count, so one person gets the
/// same noise in every scope ([`super::cellkey`]).
#[derive(Clone, Debug, Default)]
pub struct Individuals {
    of: HashMap<RecordId, (u32, CellKey)>,
    /// The key sum of every linked case (the units of `linked_cases`).
    linked_key: CellKey,
}

impl Individuals {
    /// Union-find over confirmed pairs; `keys` gives the record keys (none: exact figures,
    /// every key zero).
    pub fn from_links(links: &[(RecordId, RecordId)], keys: Option<&CellKeys>) -> Individuals {
        let mut index: HashMap<RecordId, usize> = HashMap::new();
        let mut parent: Vec<usize> = Vec::new();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let mut id = |r: RecordId, parent: &mut Vec<usize>| {
            *index.entry(r).or_insert_with(|| {
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        for (a, b) in links {
            let (x, y) = (id(*a, &mut parent), id(*b, &mut parent));
            let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
            if rx != ry {
                parent[rx.max(ry)] = rx.min(ry);
            }
        }
        let key_of = |r: RecordId| keys.map(|k| k.of(UnitKind::Case, r)).unwrap_or_default();
        let roots: Vec<(RecordId, u32)> = index
            .into_iter()
            .map(|(r, i)| (r, find(&mut parent, i) as u32))
            .collect();
        let mut smallest: HashMap<u32, RecordId> = HashMap::new();
        let mut linked_key = CellKey::default();
        for (r, root) in &roots {
            let slot = smallest.entry(*root).or_insert(*r);
            *slot = (*slot).min(*r);
            linked_key = linked_key.plus(key_of(*r));
        }
        let of = roots
            .into_iter()
            .map(|(r, root)| (r, (root, key_of(smallest[&root]))))
            .collect();
        Individuals { of, linked_key }
    }

    /// The individual of a case (and its key), when it is linked to another.
    fn person(&self, case: &RecordId) -> Option<(u32, CellKey)> {
        self.of.get(case).copied()
    }

    /// The individual of a case, when it is linked to another.
    pub fn of(&self, case: &RecordId) -> Option<u32> {
        self.person(case).map(|(p, _)| p)
    }

    /// Linked cases, with the key of their set.
    pub fn linked(&self) -> Cell {
        Cell::keyed(self.of.len() as u64, self.linked_key)
    }
}

/// A count that counts linked individuals once, with the key sum of its units.
#[derive(Clone, Debug, Default)]
struct Tally {
    n: u64,
    /// Key sum of the units counted in `n` (each counted once by construction).
    key: CellKey,
    /// Linked individuals, each once, with their keys.
    people: HashMap<u32, CellKey>,
}

/// One unit counted: a record counted on its own, or a linked individual.
#[derive(Clone, Copy)]
enum Unit {
    One(CellKey),
    Person(u32, CellKey),
}

impl Tally {
    fn add(&mut self, unit: Unit) {
        match unit {
            Unit::One(key) => {
                self.n += 1;
                self.key = self.key.plus(key);
            }
            Unit::Person(p, key) => {
                self.people.insert(p, key);
            }
        }
    }
    fn value(&self) -> u64 {
        self.n + self.people.len() as u64
    }
    fn cell(&self) -> Cell {
        let key = self.people.values().fold(self.key, |sum, k| sum.plus(*k));
        Cell::keyed(self.value(), key)
    }
    fn merge(&mut self, other: &Tally) {
        self.n += other.n;
        self.key = self.key.plus(other.key);
        self.people
            .extend(other.people.iter().map(|(p, k)| (*p, *k)));
    }
}

/// A one-way table being counted.
#[derive(Default)]
struct OneWay {
    cells: HashMap<&'static str, Tally>,
    total: Tally,
}

impl OneWay {
    fn add(&mut self, keys: &[&'static str], unit: Unit) {
        for k in keys {
            self.cells.entry(k).or_default().add(unit);
        }
        self.total.add(unit);
    }
}

#[derive(Default)]
struct TwoWay {
    cells: HashMap<(&'static str, &'static str), Tally>,
    rows: HashMap<&'static str, Tally>,
    cols: HashMap<&'static str, Tally>,
    total: Tally,
}

/// Row order of a table.
enum Rows {
    /// Every code, then `unknown`.
    Fixed(Vec<&'static str>),
    /// Rows seen, largest first.
    ByCount,
    /// The `TOP_N` largest, then `other`.
    Top,
}

fn codes_and_unknown(codes: &[&'static str]) -> Rows {
    let mut rows = codes.to_vec();
    // Some code lists have an `unknown` of their own (sex): one row holds both.
    if !rows.contains(&UNKNOWN) {
        rows.push(UNKNOWN);
    }
    Rows::Fixed(rows)
}

/// What names a one-way table.
struct Shape {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    dimension: &'static str,
}

fn one_way_table(
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
    let rows: Vec<&'static str> = Sex::CODES.iter().copied().chain([UNKNOWN]).collect();
    let cols: Vec<&'static str> = AGE_GROUPS.iter().copied().chain([UNKNOWN]).collect();
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

/// Services given, by type: service records, or individuals who received each type.
fn services_table(
    storage: &dyn Storage,
    request: &ReportRequest,
    individuals: &Individuals,
    key_of: &dyn Fn(UnitKind, RecordId) -> CellKey,
    owned: &dyn Fn(&RecordId) -> bool,
) -> Result<Table, StorageError> {
    let mut acc = OneWay::default();
    // Rows arrive sorted by case: one case's services count once per type per individual.
    let mut current: Option<RecordId> = None;
    let mut seen: BTreeSet<ServiceType> = BTreeSet::new();
    let mut case_counted = false;
    let count = request.count;
    storage.scan_service_facts(&request.filter, &mut |row: ServiceFactRow| {
        let case = row.facts.case_id;
        if !owned(&case) {
            return;
        }
        if current != Some(case) {
            current = Some(case);
            seen.clear();
            case_counted = false;
        }
        let t = row.facts.service_type;
        match count {
            CountMode::Assistance => acc.add(
                &[t.as_str()],
                Unit::One(key_of(UnitKind::Service, row.record)),
            ),
            CountMode::Individuals => {
                let unit = individuals
                    .person(&case)
                    .map(|(p, k)| Unit::Person(p, k))
                    .unwrap_or_else(|| Unit::One(key_of(UnitKind::Case, case)));
                if seen.insert(t) {
                    acc.cells.entry(t.as_str()).or_default().add(unit);
                }
                if !case_counted {
                    acc.total.add(unit);
                    case_counted = true;
                }
            }
        }
    })?;
    let (unit, additive) = match count {
        CountMode::Assistance => ("services", true),
        CountMode::Individuals => ("individuals", false),
    };
    let shape = Shape {
        id: "services_by_type",
        title: "Services given, by type",
        unit,
        dimension: "service_type",
    };
    Ok(one_way_table(
        &acc,
        shape,
        Rows::Fixed(ServiceType::CODES.to_vec()),
        additive,
        Some(
            "counts of assistance count each service given; individuals count each person once \
             per type and once in the total",
        ),
    ))
}

/// The referral outcome columns.
pub const REFERRAL_COLUMNS: [&str; 6] = [
    "sent",
    "accepted",
    "declined",
    "completed",
    "cancelled",
    "pending",
];

/// Referrals by (sending, receiving) agency: sent; first answered accepted or declined;
/// completed; cancelled; still waiting for an answer (`pending`); median hours to answer.
fn referrals_table(
    storage: &dyn Storage,
    request: &ReportRequest,
    individuals: &Individuals,
    key_of: &dyn Fn(UnitKind, RecordId) -> CellKey,
    owned: &dyn Fn(&RecordId) -> bool,
) -> Result<Table, StorageError> {
    struct Pair {
        cols: [Tally; 6],
        /// The referrals answered, whose times the median is over.
        answered: Tally,
        /// Seconds from sending to the first answer, one per answered referral: the only
        /// per-row memory, 4 bytes per answered referral in scope.
        answer_secs: Vec<u32>,
    }
    let mut pairs: BTreeMap<(AgencyCode, AgencyCode), Pair> = BTreeMap::new();
    let mut totals: [Tally; 6] = Default::default();
    let count = request.count;
    // Rows sorted by case: per case, the (pair, column) already counted in individuals mode.
    let mut current: Option<RecordId> = None;
    let mut seen: HashSet<(AgencyCode, AgencyCode, usize)> = HashSet::new();
    let mut seen_totals: HashSet<usize> = HashSet::new();
    storage.scan_referral_facts(&request.filter, &mut |row: ReferralFactRow| {
        if !owned(&row.case_id) {
            return;
        }
        if current != Some(row.case_id) {
            current = Some(row.case_id);
            seen.clear();
            seen_totals.clear();
        }
        let referral_key = key_of(UnitKind::Referral, row.referral);
        let unit = match count {
            CountMode::Assistance => Unit::One(referral_key),
            CountMode::Individuals => individuals
                .person(&row.case_id)
                .map(|(p, k)| Unit::Person(p, k))
                .unwrap_or_else(|| Unit::One(key_of(UnitKind::Case, row.case_id))),
        };
        let key = (row.from.clone(), row.to.clone());
        let pair = pairs.entry(key.clone()).or_insert_with(|| Pair {
            cols: Default::default(),
            answered: Tally::default(),
            answer_secs: Vec::new(),
        });
        let mut columns = vec![0];
        match row.answer.map(|a| a.0) {
            Some(ReferralStatus::Accepted) => columns.push(1),
            Some(ReferralStatus::Declined) => columns.push(2),
            _ => {}
        }
        match row.status {
            ReferralStatus::Completed => columns.push(3),
            ReferralStatus::Cancelled => columns.push(4),
            ReferralStatus::Sent => columns.push(5),
            _ => {}
        }
        for c in columns {
            let first =
                count == CountMode::Assistance || seen.insert((key.0.clone(), key.1.clone(), c));
            if first {
                pair.cols[c].add(unit);
            }
            if count == CountMode::Assistance || seen_totals.insert(c) {
                totals[c].add(unit);
            }
        }
        if let Some((_, at)) = row.answer {
            pair.answered.add(Unit::One(referral_key));
            let secs = at.saturating_sub(row.sent_at_ms) / 1000;
            pair.answer_secs
                .push(u32::try_from(secs).unwrap_or(u32::MAX));
        }
    })?;
    let rows = pairs
        .into_iter()
        .map(|((from, to), mut p)| Row {
            key: vec![from.to_string(), to.to_string()],
            label: None,
            cells: p.cols.iter().map(Tally::cell).collect(),
            total: None,
            median_hours_to_answer: Some(median_hours(&mut p.answer_secs)),
            answered: Some(p.answered.cell()),
        })
        .collect();
    Ok(Table {
        id: "referrals_by_agency_pair",
        title: "Referrals by sending and receiving agency",
        unit: match count {
            CountMode::Assistance => "referrals",
            CountMode::Individuals => "individuals",
        },
        row_dimensions: vec!["from_agency", "to_agency"],
        column_dimension: Some("referral_outcome"),
        columns: REFERRAL_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
        rows,
        column_totals: Some(totals.iter().map(Tally::cell).collect()),
        total: None,
        additive: false,
        note: Some(
            "accepted and declined count first answers; completed, cancelled and pending are \
             current statuses; median hours from sending to the first answer",
        ),
    })
}

/// The median of answer times in hours, to a tenth.
pub fn median_hours(secs: &mut [u32]) -> Option<f64> {
    if secs.is_empty() {
        return None;
    }
    secs.sort_unstable();
    let n = secs.len();
    let median = if n % 2 == 1 {
        f64::from(secs[n / 2])
    } else {
        (f64::from(secs[n / 2 - 1]) + f64::from(secs[n / 2])) / 2.0
    };
    Some((median / 360.0).round() / 10.0)
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
    fn confirmed_links_make_one_individual_transitively() {
        let (a, b, c, d) = (
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
            RecordId::new(),
        );
        let people = Individuals::from_links(&[(a, b), (c, b)], None);
        assert_eq!(people.of(&a), people.of(&c));
        assert!(people.of(&a).is_some());
        assert_eq!(people.of(&d), None);
        assert_eq!(people.linked().count, Some(3));
    }

    #[test]
    fn medians_are_in_hours() {
        assert_eq!(median_hours(&mut [3600, 7200, 36_000]), Some(2.0));
        assert_eq!(median_hours(&mut [3600, 7200]), Some(1.5));
        assert_eq!(median_hours(&mut []), None);
    }
}
