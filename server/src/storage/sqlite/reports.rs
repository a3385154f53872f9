//! Reading report facts, match blocks and duplicate decisions; API tokens of users.
//!
//! Scans stream rows to a visitor from one read transaction: nothing here collects rows.
//! Filters become SQL `WHERE` clauses; a country list is spliced into the SQL as literals,
//! which is safe because a [`Country`] can only hold one of the fixed ISO codes.

use super::{agency_col, backend, ms_col, record_id_col, to_sql_ms};
use crate::reports::facts::{
    age_label, split_codes, CaseFactRow, CaseFacts, FactFilter, ReferralFactRow, ServiceFactRow,
    ServiceFacts,
};
use crate::reports::matching::{MatchProfile, Token};
use crate::storage::*;
use fieldcase_core::model::codes::*;
use fieldcase_core::model::{Country, Date};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::RecordId;
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension, Row, Transaction};

const DAY_MS: i64 = 86_400_000;

fn str_ref<'a>(row: &'a Row<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => Ok(std::str::from_utf8(t).ok()),
        _ => Ok(None),
    }
}

fn country(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Country>> {
    Ok(str_ref(row, i)?.and_then(|c| Country::parse(c).ok()))
}

fn code<T: Code>(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<T>> {
    Ok(str_ref(row, i)?.and_then(T::parse))
}

fn date(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Date>> {
    Ok(str_ref(row, i)?.and_then(|d| Date::parse(d).ok()))
}

fn country_clause(column: &str, countries: &Option<Vec<Country>>) -> String {
    match countries {
        None => String::new(),
        Some(list) => {
            let codes: Vec<String> = list.iter().map(|c| format!("'{}'", c.as_str())).collect();
            format!(" AND {column} IN ({})", codes.join(","))
        }
    }
}

fn day_text(d: Option<Date>) -> Option<String> {
    d.map(|d| d.to_string())
}

pub(super) fn scan_case_facts(
    tx: &Transaction<'_>,
    filter: &FactFilter,
    visit: &mut dyn FnMut(CaseFactRow),
) -> Result<(), StorageError> {
    let sql = format!(
        "SELECT f.record_id, r.owner_agency, f.intake_date, f.sex, f.age_group, f.age_band,
                f.nationality, f.country_of_assistance, f.programme, f.categories,
                f.exploitation_types, f.labour_sectors, f.trafficking_type,
                f.country_of_destination, f.reintegration_assistance, f.status
         FROM report_facts f JOIN records r ON r.record_id = f.record_id
         WHERE (?1 IS NULL OR f.intake_date >= ?1) AND (?2 IS NULL OR f.intake_date <= ?2)
           AND (?3 IS NULL OR r.owner_agency = ?3){}",
        country_clause("f.country_of_assistance", &filter.countries)
    );
    let mut stmt = tx.prepare(&sql).map_err(backend)?;
    let mut rows = stmt
        .query(params![
            day_text(filter.from),
            day_text(filter.to),
            filter.agency.as_ref().map(|a| a.as_str())
        ])
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let read = || -> rusqlite::Result<CaseFactRow> {
            Ok(CaseFactRow {
                record: record_id_col(row.get(0)?)?,
                agency: agency_col(row.get(1)?)?,
                facts: CaseFacts {
                    intake_date: date(row, 2)?,
                    sex: code(row, 3)?,
                    age_group: str_ref(row, 4)?.and_then(age_label),
                    age_band: str_ref(row, 5)?.and_then(age_label),
                    nationality: country(row, 6)?,
                    country_of_assistance: country(row, 7)?,
                    programme: code(row, 8)?,
                    categories: split_codes(str_ref(row, 9)?.unwrap_or("")),
                    exploitation_types: split_codes(str_ref(row, 10)?.unwrap_or("")),
                    labour_sectors: split_codes(str_ref(row, 11)?.unwrap_or("")),
                    trafficking_type: code(row, 12)?,
                    country_of_destination: country(row, 13)?,
                    reintegration_assistance: split_codes(str_ref(row, 14)?.unwrap_or("")),
                    status: code(row, 15)?,
                },
            })
        };
        visit(read().map_err(backend)?);
    }
    Ok(())
}

pub(super) fn scan_service_facts(
    tx: &Transaction<'_>,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ServiceFactRow),
) -> Result<(), StorageError> {
    let join = if filter.countries.is_some() {
        " JOIN report_facts f ON f.record_id = s.case_id"
    } else {
        ""
    };
    let sql = format!(
        "SELECT s.record_id, s.case_id, s.service_type, s.service_date, s.provider_agency
         FROM service_facts s{join}
         WHERE (?1 IS NULL OR s.service_date >= ?1) AND (?2 IS NULL OR s.service_date <= ?2)
           AND (?3 IS NULL OR s.provider_agency = ?3){}
         ORDER BY s.case_id",
        country_clause("f.country_of_assistance", &filter.countries)
    );
    let mut stmt = tx.prepare(&sql).map_err(backend)?;
    let mut rows = stmt
        .query(params![
            day_text(filter.from),
            day_text(filter.to),
            filter.agency.as_ref().map(|a| a.as_str())
        ])
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let read = || -> rusqlite::Result<Option<ServiceFactRow>> {
            let (Some(service_type), Some(date)) = (code(row, 2)?, date(row, 3)?) else {
                return Ok(None);
            };
            Ok(Some(ServiceFactRow {
                record: record_id_col(row.get(0)?)?,
                facts: ServiceFacts {
                    case_id: record_id_col(row.get(1)?)?,
                    service_type,
                    date,
                    provider_agency: agency_col(row.get(4)?)?,
                },
            }))
        };
        if let Some(r) = read().map_err(backend)? {
            visit(r);
        }
    }
    Ok(())
}

pub(super) fn scan_referral_facts(
    tx: &Transaction<'_>,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ReferralFactRow),
) -> Result<(), StorageError> {
    let join = if filter.countries.is_some() {
        " JOIN report_facts f ON f.record_id = r.case_id"
    } else {
        ""
    };
    // The first answer is the first audited transition to accepted or declined; audit
    // details are codes only (`accept: sent -> accepted`).
    let sql = format!(
        "SELECT r.referral_id, r.case_id, r.from_agency, r.to_agency, r.status, r.created_at,
                (SELECT a.at || ' ' || substr(a.detail, instr(a.detail, '-> ') + 3)
                   FROM audit_log a
                  WHERE a.record_id = r.referral_id AND a.event = 'referral_transition'
                    AND (a.detail LIKE '%-> accepted' OR a.detail LIKE '%-> declined')
                  ORDER BY a.at, a.id LIMIT 1)
         FROM referrals r{join}
         WHERE (?1 IS NULL OR r.created_at >= ?1) AND (?2 IS NULL OR r.created_at < ?2)
           AND (?3 IS NULL OR r.from_agency = ?3 OR r.to_agency = ?3){}
         ORDER BY r.case_id",
        country_clause("f.country_of_assistance", &filter.countries)
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
            visit(r);
        }
    }
    Ok(())
}

fn tokens(bytes: &[u8]) -> Vec<Token> {
    bytes
        .chunks_exact(16)
        .map(|c| {
            let mut t = [0u8; 16];
            t.copy_from_slice(c);
            t
        })
        .collect()
}

/// Members of blocks shared by at least two cases, sorted by block. Most blocks hold one case:
/// the `EXISTS` probe (one index seek on `match_blocks`) is checked before any profile is
/// read, and the scan follows the primary key, so no sort holds rows in memory (a grouped
/// subquery instead made SQLite sort every joined row: 235 MiB at 1,000,000 cases).
pub(super) fn scan_match_blocks(
    tx: &Transaction<'_>,
    visit: &mut dyn FnMut(&Token, BlockMember),
) -> Result<(), StorageError> {
    let mut stmt = tx
        .prepare(
            "SELECT b.block, b.record_id, r.owner_agency, f.intake_date, p.name_tokens, p.dob,
                    p.documents, p.phone, p.nationality, p.sex
             FROM match_blocks b
             JOIN match_profiles p ON p.record_id = b.record_id
             JOIN records r ON r.record_id = b.record_id
             LEFT JOIN report_facts f ON f.record_id = b.record_id
             WHERE EXISTS (SELECT 1 FROM match_blocks o
                           WHERE o.block = b.block AND o.record_id <> b.record_id)
             ORDER BY b.block",
        )
        .map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        let read = || -> rusqlite::Result<(Token, BlockMember)> {
            let block: Vec<u8> = row.get(0)?;
            let mut b = [0u8; 16];
            if block.len() == 16 {
                b.copy_from_slice(&block);
            }
            let phone: Option<Vec<u8>> = row.get(7)?;
            Ok((
                b,
                BlockMember {
                    record: record_id_col(row.get(1)?)?,
                    agency: agency_col(row.get(2)?)?,
                    intake_date: date(row, 3)?,
                    profile: MatchProfile {
                        name_tokens: tokens(&row.get::<_, Vec<u8>>(4)?),
                        dob: tokens(&row.get::<_, Vec<u8>>(5)?),
                        documents: tokens(&row.get::<_, Vec<u8>>(6)?),
                        phone: phone.and_then(|p| tokens(&p).first().copied()),
                        nationality: country(row, 8)?,
                        sex: code(row, 9)?,
                        blocks: Vec::new(),
                    },
                },
            ))
        };
        let (block, member) = read().map_err(backend)?;
        visit(&block, member);
    }
    Ok(())
}

pub(super) fn duplicate_decisions(
    tx: &Transaction<'_>,
    only_confirmed: bool,
) -> Result<Vec<DuplicateDecision>, StorageError> {
    let mut stmt = tx
        .prepare(
            "SELECT record_a, record_b, decision, decided_at, decided_by FROM duplicate_decisions
             WHERE (?1 = 0 OR decision = 'confirmed') ORDER BY decided_at, record_a, record_b",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([only_confirmed as i64], |row| {
            Ok(DuplicateDecision {
                record_a: record_id_col(row.get(0)?)?,
                record_b: record_id_col(row.get(1)?)?,
                confirmed: row.get::<_, String>(2)? == "confirmed",
                decided_at_ms: ms_col(row.get(3)?),
                decided_by: row.get(4)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub(super) fn decide_duplicate(
    tx: &Transaction<'_>,
    d: &DuplicateDecision,
) -> Result<(), StorageError> {
    if d.record_a == d.record_b {
        return Err(StorageError::NotFound("pair of two cases"));
    }
    for record in [d.record_a, d.record_b] {
        let is_case: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM records WHERE record_id = ?1 AND kind = 'case'",
                [record.as_bytes()],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if !is_case {
            return Err(StorageError::NotFound("case"));
        }
    }
    let (a, b) = if d.record_a.as_bytes() < d.record_b.as_bytes() {
        (d.record_a, d.record_b)
    } else {
        (d.record_b, d.record_a)
    };
    tx.execute(
        "INSERT INTO duplicate_decisions (record_a, record_b, decision, decided_at, decided_by)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (record_a, record_b) DO UPDATE SET
           decision = excluded.decision, decided_at = excluded.decided_at,
           decided_by = excluded.decided_by",
        params![
            a.as_bytes(),
            b.as_bytes(),
            if d.confirmed { "confirmed" } else { "rejected" },
            to_sql_ms(d.decided_at_ms),
            d.decided_by
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn case_summaries(
    tx: &Transaction<'_>,
    cases: &[RecordId],
) -> Result<Vec<CaseSummary>, StorageError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT r.owner_agency, f.intake_date FROM records r
             LEFT JOIN report_facts f ON f.record_id = r.record_id
             WHERE r.record_id = ?1 AND r.kind = 'case'",
        )
        .map_err(backend)?;
    let mut out = Vec::with_capacity(cases.len());
    for record in cases {
        let found = stmt
            .query_row([record.as_bytes()], |row| {
                Ok(CaseSummary {
                    record: *record,
                    agency: agency_col(row.get(0)?)?,
                    intake_date: date(row, 1)?,
                })
            })
            .optional()
            .map_err(backend)?;
        out.extend(found);
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
