//! Report facts: the non-identifying columns of a case (and of a service) that reports
//! aggregate on, derived from the record's merged state.
//!
//! The columns: sex, an age *band* at intake (never the date of birth), countries,
//! categories, programme, exploitation, labour sectors, trafficking type, reintegration
//! assistance, status, and the intake date that places a case in a reporting period. Nothing
//! here names a person, but together they describe one (a copy of one row per survivor is a
//! re-identifiable table), so storage keeps each row *sealed* under the server key
//! (`storage::sqlite::sealed_facts`), in the same transaction that merges the case's state, so
//! the row always describes the state.
//!
//! Derivation is lenient on purpose: merged state can hold a combination of values that breaks
//! a rule between fields (two devices edited concurrently), and a single unreadable value must
//! not drop a case from every figure. A value that does not read is left out (counted as
//! `unknown`); every other field still counts.

use fieldcase_core::model::codes::*;
use fieldcase_core::model::{Case, Country, Date, Fields, Service};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::BTreeSet;

/// The coarse age groups of the source ("28% were under 18").
pub const AGE_GROUPS: [&str; 2] = ["0-17", "18+"];
/// The finer age bands of the reports (`docs/reports.md`), as `(label, first year, last year)`.
pub const AGE_BANDS: [(&str, u32, u32); 7] = [
    ("0-8", 0, 8),
    ("9-13", 9, 13),
    ("14-17", 14, 17),
    ("18-24", 18, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45+", 45, u32::MAX),
];
/// The row for a value that is absent, unreadable or (for ages) not pinned to one band.
pub const UNKNOWN: &str = "unknown";

/// The facts of one case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFacts {
    pub intake_date: Option<Date>,
    pub sex: Option<Sex>,
    /// `0-17` or `18+`, when the age at intake is known to lie on one side of 18.
    pub age_group: Option<&'static str>,
    /// One of [`AGE_BANDS`], when the age at intake is known to lie in one band (a date of birth
    /// known only to the year can straddle two bands: then `None`, though the group may be
    /// known).
    pub age_band: Option<&'static str>,
    pub nationality: Option<Country>,
    pub country_of_assistance: Option<Country>,
    pub programme: Option<Programme>,
    pub categories: BTreeSet<Category>,
    pub exploitation_types: BTreeSet<ExploitationType>,
    pub labour_sectors: BTreeSet<LabourSector>,
    pub trafficking_type: Option<TraffickingType>,
    pub country_of_destination: Option<Country>,
    pub reintegration_assistance: BTreeSet<ReintegrationAssistance>,
    pub status: Option<Status>,
}

/// One case's facts as a report reads them: with its record and owner agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFactRow {
    pub record: RecordId,
    pub agency: AgencyCode,
    pub facts: CaseFacts,
}

/// The facts of one service given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceFacts {
    pub case_id: RecordId,
    pub service_type: ServiceType,
    pub date: Date,
    pub provider_agency: AgencyCode,
}

/// One service as a report reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceFactRow {
    pub record: RecordId,
    pub facts: ServiceFacts,
}

/// One referral as a report reads it (from the server's plain referral columns and the
/// audit of its transitions: no shared field, no reason text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralFactRow {
    pub referral: RecordId,
    pub case_id: RecordId,
    pub from: AgencyCode,
    pub to: AgencyCode,
    pub status: ReferralStatus,
    /// When the server received it.
    pub sent_at_ms: u64,
    /// The first answer (accepted or declined) and when the server applied it.
    pub answer: Option<(ReferralStatus, u64)>,
}

/// Which rows a report reads. Storage applies it in the query, so rows out of scope are
/// never read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FactFilter {
    /// First and last day of the period (inclusive): a case's intake date, a service's date,
    /// the day (UTC) a referral reached the server. Rows without a date are outside any
    /// bounded period.
    pub from: Option<Date>,
    pub to: Option<Date>,
    /// Cases owned by (services provided by; referrals sent or received by) this agency.
    pub agency: Option<AgencyCode>,
    /// Cases whose country of assistance is one of these (services and referrals: their
    /// case's). `Some(empty)` matches nothing.
    pub countries: Option<Vec<Country>>,
}

/// Reads a case's fields, dropping any value that does not read (see the module docs).
pub fn read_case(fields: &Fields) -> Case {
    let today = Date::today();
    match Case::parse_fields_as_of(fields, today) {
        Ok(case) => case,
        Err(errors) => {
            let mut kept = fields.clone();
            for e in errors.iter() {
                kept.remove(e.key());
            }
            Case::parse_fields_as_of(&kept, today).unwrap_or_default()
        }
    }
}

impl CaseFacts {
    /// The facts of a case's merged fields.
    pub fn from_fields(fields: &Fields) -> CaseFacts {
        CaseFacts::from_case(&read_case(fields))
    }

    pub fn from_case(case: &Case) -> CaseFacts {
        let age = case.age_at_intake();
        let age_group = age.and_then(|a| {
            if a.max < 18 {
                Some(AGE_GROUPS[0])
            } else if a.min >= 18 {
                Some(AGE_GROUPS[1])
            } else {
                None
            }
        });
        let age_band = age.and_then(|a| {
            AGE_BANDS
                .iter()
                .find(|(_, lo, hi)| a.min >= *lo && a.max <= *hi)
                .map(|(label, _, _)| *label)
        });
        CaseFacts {
            intake_date: case.intake_date,
            sex: case.sex,
            age_group,
            age_band,
            nationality: case.nationality,
            country_of_assistance: case.country_of_assistance,
            programme: case.programme,
            categories: case.categories.clone(),
            exploitation_types: case.exploitation_types.clone(),
            labour_sectors: case.labour_sectors.clone(),
            trafficking_type: case.trafficking_type,
            country_of_destination: case.country_of_destination,
            reintegration_assistance: case.reintegration_assistance.clone(),
            status: case.status,
        }
    }

    /// Whether the case is a victim of trafficking (the trafficking figures count only these).
    pub fn is_victim(&self) -> bool {
        self.categories.contains(&Category::VictimOfTrafficking)
    }
}

impl ServiceFacts {
    /// The facts of a service's merged fields; `None` when a required value does not read.
    pub fn from_fields(fields: &Fields) -> Option<ServiceFacts> {
        let service = Service::from_fields_as_of(fields, Date::today()).ok()?;
        Some(ServiceFacts {
            case_id: service.case_id(),
            service_type: service.service_type(),
            date: service.date(),
            provider_agency: service.provider_agency().clone(),
        })
    }
}

/// A set of codes as stored: the codes joined by commas (codes never contain one).
pub fn join_codes<T: Code>(set: &BTreeSet<T>) -> String {
    let codes: Vec<&str> = set.iter().map(|c| c.as_str()).collect();
    codes.join(",")
}

/// The stored form back; codes no longer known are skipped.
pub fn split_codes<T: Code>(text: &str) -> BTreeSet<T> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(T::parse)
        .collect()
}

/// An age label back to its static form.
pub fn age_label(text: &str) -> Option<&'static str> {
    AGE_GROUPS
        .iter()
        .copied()
        .chain(AGE_BANDS.iter().map(|(l, _, _)| *l))
        .find(|l| *l == text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(value: serde_json::Value) -> CaseFacts {
        let fields = fieldcase_core::model::flatten_json(&value).unwrap();
        CaseFacts::from_fields(&fields)
    }

    #[test]
    fn ages_are_banded_at_intake_and_partial_dates_may_straddle_a_band() {
        let f = facts(json!({"date_of_birth": "2000-03-01", "intake_date": "2024-02-01"}));
        assert_eq!((f.age_group, f.age_band), (Some("18+"), Some("18-24")));
        // Born some time in 2000, assisted mid-2025: 24 or 25.
        let f = facts(json!({"date_of_birth": "2000", "intake_date": "2025-06-01"}));
        assert_eq!((f.age_group, f.age_band), (Some("18+"), None));
        let f = facts(json!({"date_of_birth": "2012-05", "intake_date": "2025-06-01"}));
        assert_eq!((f.age_group, f.age_band), (Some("0-17"), Some("9-13")));
        let f = facts(json!({"intake_date": "2025-06-01"}));
        assert_eq!((f.age_group, f.age_band), (None, None));
    }

    #[test]
    fn an_unreadable_value_drops_only_itself() {
        let f = facts(
            json!({"sex": "femal", "nationality": "UGA", "categories": ["stranded_migrant"]}),
        );
        assert_eq!(f.sex, None);
        assert_eq!(f.nationality, Some(Country::parse("UGA").unwrap()));
        assert!(f.categories.contains(&Category::StrandedMigrant));
    }

    #[test]
    fn code_sets_round_trip_through_their_stored_form() {
        let set: BTreeSet<ExploitationType> =
            [ExploitationType::Sexual, ExploitationType::Labour].into();
        assert_eq!(join_codes(&set), "sexual,labour");
        assert_eq!(split_codes::<ExploitationType>("sexual,labour,gone"), set);
    }
}
