//! The tables of what was done for people rather than who they are: services given by type, and
//! referrals by sending and receiving agency with their outcomes and time to answer.
//!
//! Both read rows sorted by case, so in counts of individuals one case's many services (or
//! referrals) count once per person per cell without remembering every case seen. In counts
//! of assistance the unit is the service or the referral itself, with its own record key.

use super::cellkey::{CellKey, UnitKind};
use super::engine::{one_way_table, CountMode, ReportRequest, Rows, Shape};
use super::facts::{ReferralFactRow, ServiceFactRow};
use super::table::{Row, Table};
use super::tally::{Individuals, OneWay, Tally, Unit};
use crate::storage::{Storage, StorageError};
use fieldcase_core::model::codes::*;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, RecordId};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Services given, by type: service records, or individuals who received each type.
pub(super) fn services_table(
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
        CountMode::Individuals => ("individuals served", false),
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
pub(super) fn referrals_table(
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
        // In individuals mode each cell counts the people referred (a person referred twice
        // between the same agencies once), not referrals: the label says so.
        unit: match count {
            CountMode::Assistance => "referrals",
            CountMode::Individuals => "individuals referred",
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
    fn medians_are_in_hours() {
        assert_eq!(median_hours(&mut [3600, 7200, 36_000]), Some(2.0));
        assert_eq!(median_hours(&mut [3600, 7200]), Some(1.5));
        assert_eq!(median_hours(&mut []), None);
    }
}
