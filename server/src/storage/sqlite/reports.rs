//! Reading report facts and match blocks; API tokens of users.
//!
//! Scans stream rows to a visitor from one read transaction: nothing here collects rows. The
//! facts and profiles are sealed at rest (`sealed_facts`), so each row is opened as it is
//! read. SQL narrows what it can see in the clear (owner agency, intake month, referral
//! routing); the rest of a filter (exact days, countries, a service's provider) is checked
//! on the opened row.

use super::{agency_col, backend, ms_col, record_id_col, to_sql_ms};
use crate::reports::facts::{CaseFactRow, FactFilter, ReferralFactRow, ServiceFactRow};
use crate::reports::matching::{BlockKey, BlockSlice, BLOCK_KEY_BYTES, MAX_SCANNED_BLOCK_RECORDS};
use crate::seal::Sealer;
use crate::storage::sealed_facts::{in_countries, in_period, no_country_matches};
use crate::storage::sealed_profile;
use crate::storage::*;
use fieldcase_core::model::codes::*;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::RecordId;
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

fn str_ref<'a>(row: &'a Row<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => Ok(std::str::from_utf8(t).ok()),
        _ => Ok(None),
    }
}

fn code<T: Code>(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<T>> {
    Ok(str_ref(row, i)?.and_then(T::parse))
}

/// A sealed column's bytes (a BLOB; anything else reads as empty and then fails to open).
fn sealed_ref<'a>(row: &'a Row<'_>, i: usize) -> rusqlite::Result<Option<&'a [u8]>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => Ok(Some(b)),
        _ => Ok(Some(&[])),
    }
}

/// The intake months a period covers, as `YYYY-MM` bounds for the clear `intake_month`
/// column; the exact days are checked on the opened facts ([`in_period`]).
fn month_bounds(filter: &FactFilter) -> (Option<String>, Option<String>) {
    (
        sealed_facts::intake_month(filter.from),
        sealed_facts::intake_month(filter.to),
    )
}

/// Whether the case whose sealed facts are in column `i` is assisted in one of the filter's
/// countries (services and referrals are scoped by their case's country).
fn case_in_countries(
    sealer: &Sealer,
    row: &Row<'_>,
    case_id: RecordId,
    i: usize,
    filter: &FactFilter,
) -> Result<bool, StorageError> {
    if filter.countries.is_none() {
        return Ok(true);
    }
    let Some(sealed) = sealed_ref(row, i).map_err(backend)? else {
        return Ok(false);
    };
    let facts = sealed_facts::open_case(sealer, case_id, sealed)?;
    Ok(in_countries(facts.country_of_assistance, filter))
}

/// Cases in scope, opened one row at a time. SQL narrows by owner agency and intake month;
/// the exact period and the countries are checked on the opened facts.
pub(super) fn scan_case_facts(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(CaseFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let (from_month, to_month) = month_bounds(filter);
    let mut stmt = tx
        .prepare_cached(
            "SELECT f.record_id, r.owner_agency, f.facts
             FROM report_facts f JOIN records r ON r.record_id = f.record_id
             WHERE (?1 IS NULL OR f.intake_month >= ?1) AND (?2 IS NULL OR f.intake_month <= ?2)
               AND (?3 IS NULL OR r.owner_agency = ?3)",
        )
        .map_err(backend)?;
    let mut rows = stmt
        .query(params![
            from_month,
            to_month,
            filter.agency.as_ref().map(|a| a.as_str())
        ])
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let record = record_id_col(row.get(0).map_err(backend)?).map_err(backend)?;
        let agency = agency_col(row.get(1).map_err(backend)?).map_err(backend)?;
        let sealed = sealed_ref(row, 2).map_err(backend)?.unwrap_or(&[]);
        let facts = sealed_facts::open_case(sealer, record, sealed)?;
        if in_period(facts.intake_date, filter) && in_countries(facts.country_of_assistance, filter)
        {
            visit(CaseFactRow {
                record,
                agency,
                facts,
            });
        }
    }
    Ok(())
}

/// Services in scope, in case order. Type, date and provider are sealed, so the period and
/// the provider are checked on the opened facts (the service date never had an index: this
/// was a full scan before too).
pub(super) fn scan_service_facts(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ServiceFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let sql = if filter.countries.is_some() {
        "SELECT s.record_id, s.case_id, s.facts, f.facts
         FROM service_facts s JOIN report_facts f ON f.record_id = s.case_id
         ORDER BY s.case_id"
    } else {
        "SELECT s.record_id, s.case_id, s.facts, NULL FROM service_facts s ORDER BY s.case_id"
    };
    let mut stmt = tx.prepare_cached(sql).map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let record = record_id_col(row.get(0).map_err(backend)?).map_err(backend)?;
        let case_id = record_id_col(row.get(1).map_err(backend)?).map_err(backend)?;
        let sealed = sealed_ref(row, 2).map_err(backend)?.unwrap_or(&[]);
        let Some(facts) = sealed_facts::open_service(sealer, record, case_id, sealed)? else {
            continue;
        };
        if !in_period(Some(facts.date), filter)
            || filter
                .agency
                .as_ref()
                .is_some_and(|a| *a != facts.provider_agency)
            || !case_in_countries(sealer, row, case_id, 3, filter)?
        {
            continue;
        }
        visit(ServiceFactRow { record, facts });
    }
    Ok(())
}

/// Referrals in scope, in case order. Referral columns are routing data in the clear
/// already; only the case's country of assistance (for a country scope) is opened.
pub(super) fn scan_referral_facts(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ReferralFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let (case_facts, join) = if filter.countries.is_some() {
        ("f.facts", " JOIN report_facts f ON f.record_id = r.case_id")
    } else {
        ("NULL", "")
    };
    // The first answer is the first audited transition to accepted or declined; audit
    // details are codes only (`accept: sent -> accepted`).
    let sql = format!(
        "SELECT r.referral_id, r.case_id, r.from_agency, r.to_agency, r.status, r.created_at,
                (SELECT a.at || ' ' || substr(a.detail, instr(a.detail, '-> ') + 3)
                   FROM audit_log a
                  WHERE a.record_id = r.referral_id AND a.event = 'referral_transition'
                    AND (a.detail LIKE '%-> accepted' OR a.detail LIKE '%-> declined')
                  ORDER BY a.at, a.id LIMIT 1),
                {case_facts}
         FROM referrals r{join}
         WHERE (?1 IS NULL OR r.created_at >= ?1) AND (?2 IS NULL OR r.created_at < ?2)
           AND (?3 IS NULL OR r.from_agency = ?3 OR r.to_agency = ?3)
         ORDER BY r.case_id"
    );
    let from_ms = filter.from.map(|d| d.days_since_epoch() * DAY_MS);
    let to_ms = filter.to.map(|d| (d.days_since_epoch() + 1) * DAY_MS);
    let mut stmt = tx.prepare(&sql).map_err(backend)?;
    let mut rows = stmt
        .query(params![
            from_ms,
            to_ms,
            filter.agency.as_ref().map(|a| a.as_str())
        ])
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let read = || -> rusqlite::Result<Option<ReferralFactRow>> {
            let Some(status) = code::<ReferralStatus>(row, 4)? else {
                return Ok(None);
            };
            let answer = str_ref(row, 6)?.and_then(|text| {
                let (at, status) = text.split_once(' ')?;
                Some((
                    ReferralStatus::parse(status.trim())?,
                    at.parse::<u64>().ok()?,
                ))
            });
            Ok(Some(ReferralFactRow {
                referral: record_id_col(row.get(0)?)?,
                case_id: record_id_col(row.get(1)?)?,
                from: agency_col(row.get(2)?)?,
                to: agency_col(row.get(3)?)?,
                status,
                sent_at_ms: ms_col(row.get(5)?),
                answer,
            }))
        };
        if let Some(r) = read().map_err(backend)? {
            if case_in_countries(sealer, row, r.case_id, 7, filter)? {
                visit(r);
            }
        }
    }
    Ok(())
}

/// Members of blocks shared by at least two cases, sorted by block, in three steps, so each
/// row is read once and each profile opened once:
/// 1. one pass over `match_blocks` in key order (its primary key covers it: a sequential read
///    of 8-byte keys and record ids, no sort, no probe per row) keeps the record ids of
///    blocks with two members or more (at most `MAX_SCANNED_BLOCK_RECORDS + 1` per block);
/// 2. one pass over `match_profiles` opens the profile of every record kept;
/// 3. the kept blocks are visited in key order with the opened members.
///
/// Memory holds the kept record ids and one opened profile per member case (measured in
/// `docs/reports.md`). An earlier version probed `EXISTS` and joined and opened a profile
/// for every row of `match_blocks`; with several blocking passes that cost seconds per
/// hundred thousand cases.
pub(super) fn scan_match_blocks(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    slice: BlockSlice,
    visit: &mut dyn FnMut(&BlockKey, Arc<BlockMember>),
) -> Result<(), StorageError> {
    let mut index: HashMap<RecordId, u32> = HashMap::new();
    let mut records: Vec<RecordId> = Vec::new();
    let mut groups: Vec<(BlockKey, Vec<u32>)> = Vec::new();
    {
        let mut keep = |block: BlockKey, run: &[RecordId]| {
            if run.len() < 2 {
                return;
            }
            let members = run
                .iter()
                .map(|r| {
                    *index.entry(*r).or_insert_with(|| {
                        records.push(*r);
                        (records.len() - 1) as u32
                    })
                })
                .collect();
            groups.push((block, members));
        };
        // A slice is a range of the primary key, read as one (not every row filtered).
        let mut stmt;
        let mut rows = match slice.below() {
            None => {
                stmt = tx
                    .prepare("SELECT block, record_id FROM match_blocks ORDER BY block, record_id")
                    .map_err(backend)?;
                stmt.query([]).map_err(backend)?
            }
            Some(below) => {
                stmt = tx
                    .prepare(
                        "SELECT block, record_id FROM match_blocks
                         WHERE block < ?1 ORDER BY block, record_id",
                    )
                    .map_err(backend)?;
                stmt.query([below.as_slice()]).map_err(backend)?
            }
        };
        let mut current: Option<BlockKey> = None;
        let mut run: Vec<RecordId> = Vec::new();
        while let Some(row) = rows.next().map_err(backend)? {
            let (block, record) = (|| -> rusqlite::Result<(BlockKey, RecordId)> {
                let bytes = match row.get_ref(0)? {
                    ValueRef::Blob(b) => b,
                    _ => &[],
                };
                let mut block = [0u8; BLOCK_KEY_BYTES];
                if bytes.len() == BLOCK_KEY_BYTES {
                    block.copy_from_slice(bytes);
                }
                Ok((block, record_id_col(row.get(1)?)?))
            })()
            .map_err(backend)?;
            if current != Some(block) {
                if let Some(done) = current {
                    keep(done, &run);
                }
                current = Some(block);
                run.clear();
            }
            if run.len() <= MAX_SCANNED_BLOCK_RECORDS {
                run.push(record);
            }
        }
        if let Some(done) = current {
            keep(done, &run);
        }
    }
    let mut members: Vec<Option<Arc<BlockMember>>> = vec![None; records.len()];
    if !slice.is_all() {
        // A slice meets a share of the cases: each one's profile is looked up (in id order,
        // along the index) rather than every profile read.
        let mut stmt = tx
            .prepare_cached("SELECT profile FROM match_profiles WHERE record_id = ?1")
            .map_err(backend)?;
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_unstable_by_key(|&i| *records[i].as_bytes());
        for i in order {
            let record = records[i];
            let mut rows = stmt.query([record.as_bytes()]).map_err(backend)?;
            if let Some(row) = rows.next().map_err(backend)? {
                let sealed = sealed_ref(row, 0).map_err(backend)?.unwrap_or(&[]);
                let profile = sealed_profile::open_profile(sealer, record, sealed)?;
                members[i] = Some(Arc::new(BlockMember { record, profile }));
            }
        }
    } else if !records.is_empty() {
        let mut stmt = tx
            .prepare("SELECT record_id, profile FROM match_profiles")
            .map_err(backend)?;
        let mut rows = stmt.query([]).map_err(backend)?;
        while let Some(row) = rows.next().map_err(backend)? {
            let record = record_id_col(row.get(0).map_err(backend)?).map_err(backend)?;
            let Some(&i) = index.get(&record) else {
                continue;
            };
            let sealed = sealed_ref(row, 1).map_err(backend)?.unwrap_or(&[]);
            let profile = sealed_profile::open_profile(sealer, record, sealed)?;
            members[i as usize] = Some(Arc::new(BlockMember { record, profile }));
        }
    }
    drop(index);
    for (block, ids) in &groups {
        for &i in ids {
            if let Some(member) = &members[i as usize] {
                visit(block, member.clone());
            }
        }
    }
    Ok(())
}

/// Up to `limit` profiles, chosen as the trait says (by the random last eight bytes of their
/// record ids): one sorted pass over the ids, the same choice as every other backend's.
pub(super) fn match_profile_sample(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    limit: usize,
) -> Result<ProfileSample, StorageError> {
    let cases: i64 = tx
        .query_row("SELECT count(*) FROM match_profiles", [], |r| r.get(0))
        .map_err(backend)?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT record_id, profile FROM match_profiles
             ORDER BY substr(record_id, 9, 8), record_id LIMIT ?1",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok((record_id_col(r.get(0)?)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (record, sealed) = row.map_err(backend)?;
        out.push(sealed_profile::open_profile(sealer, record, &sealed)?);
    }
    Ok(ProfileSample {
        cases: cases as u64,
        profiles: out,
    })
}

pub(super) fn case_summaries(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    cases: &[RecordId],
) -> Result<Vec<CaseSummary>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT r.owner_agency, f.facts FROM records r
             LEFT JOIN report_facts f ON f.record_id = r.record_id
             WHERE r.record_id = ?1 AND r.kind = 'case'",
        )
        .map_err(backend)?;
    let mut out = Vec::with_capacity(cases.len());
    for record in cases {
        let found = stmt
            .query_row([record.as_bytes()], |row| {
                Ok((agency_col(row.get(0)?)?, row.get::<_, Option<Vec<u8>>>(1)?))
            })
            .optional()
            .map_err(backend)?;
        let Some((agency, sealed)) = found else {
            continue;
        };
        let intake_date = match sealed {
            Some(sealed) => sealed_facts::open_case_intake(sealer, *record, &sealed)?,
            None => None,
        };
        out.push(CaseSummary {
            record: *record,
            agency,
            intake_date,
        });
    }
    Ok(out)
}

pub(super) fn revoke_api_tokens(
    tx: &Transaction<'_>,
    user_id: &str,
    now_ms: u64,
) -> Result<u64, StorageError> {
    if super::directory::user(tx, user_id, None)?.is_none() {
        return Err(StorageError::NotFound("user"));
    }
    let revoked = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![user_id, to_sql_ms(now_ms)],
        )
        .map_err(backend)?;
    Ok(revoked as u64)
}
