//! Reading report facts, match blocks and duplicate decisions; API tokens of users; in
//! PostgreSQL.
//!
//! Scans stream rows to a visitor from one read snapshot (`query_raw`: rows arrive as the
//! server sends them; nothing here collects them). Filters become SQL `WHERE` clauses; a country
//! list is spliced into the SQL as literals, which is safe because a [`Country`] can only hold
//! one of the fixed ISO codes. (Kept apart from the log so report storage can change on its
//! own.)

use super::{agency_of, backend, col, ms, record_id_of, to_sql};
use crate::reports::facts::{
    age_label, split_codes, CaseFactRow, CaseFacts, FactFilter, ReferralFactRow, ServiceFactRow,
    ServiceFacts,
};
use crate::reports::matching::{MatchProfile, Token};
use crate::storage::*;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::{Row, Transaction};
use fieldcase_core::model::codes::*;
use fieldcase_core::model::{Country, Date};
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::RecordId;

const DAY_MS: i64 = 86_400_000;

fn str_at(row: &Row, i: usize) -> Result<Option<&str>, StorageError> {
    col(row, i)
}

fn country(row: &Row, i: usize) -> Result<Option<Country>, StorageError> {
    Ok(str_at(row, i)?.and_then(|c| Country::parse(c).ok()))
}

fn code<T: Code>(row: &Row, i: usize) -> Result<Option<T>, StorageError> {
    Ok(str_at(row, i)?.and_then(T::parse))
}

fn date(row: &Row, i: usize) -> Result<Option<Date>, StorageError> {
    Ok(str_at(row, i)?.and_then(|d| Date::parse(d).ok()))
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

/// Streams the rows of `sql` to `visit`.
fn stream(
    tx: &mut Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    mut visit: impl FnMut(&Row) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut rows = tx.query_raw(sql, params.iter().copied()).map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        visit(&row)?;
    }
    Ok(())
}

pub(super) fn scan_case_facts(
    tx: &mut Transaction<'_>,
    filter: &FactFilter,
    visit: &mut dyn FnMut(CaseFactRow),
) -> Result<(), StorageError> {
    let sql = format!(
        "SELECT f.record_id, r.owner_agency, f.intake_date, f.sex, f.age_group, f.age_band,
                f.nationality, f.country_of_assistance, f.programme, f.categories,
                f.exploitation_types, f.labour_sectors, f.trafficking_type,
                f.country_of_destination, f.reintegration_assistance, f.status
         FROM report_facts f JOIN records r ON r.record_id = f.record_id
         WHERE ($1::text IS NULL OR f.intake_date >= $1)
           AND ($2::text IS NULL OR f.intake_date <= $2)
           AND ($3::text IS NULL OR r.owner_agency = $3){}",
        country_clause("f.country_of_assistance", &filter.countries)
    );
    let (from, to) = (day_text(filter.from), day_text(filter.to));
    let agency = filter.agency.as_ref().map(|a| a.as_str());
    stream(tx, &sql, &[&from, &to, &agency], |row| {
        visit(CaseFactRow {
            record: record_id_of(col(row, 0)?)?,
            agency: agency_of(col(row, 1)?)?,
            facts: CaseFacts {
                intake_date: date(row, 2)?,
                sex: code(row, 3)?,
                age_group: str_at(row, 4)?.and_then(age_label),
                age_band: str_at(row, 5)?.and_then(age_label),
                nationality: country(row, 6)?,
                country_of_assistance: country(row, 7)?,
                programme: code(row, 8)?,
                categories: split_codes(str_at(row, 9)?.unwrap_or("")),
                exploitation_types: split_codes(str_at(row, 10)?.unwrap_or("")),
                labour_sectors: split_codes(str_at(row, 11)?.unwrap_or("")),
                trafficking_type: code(row, 12)?,
                country_of_destination: country(row, 13)?,
                reintegration_assistance: split_codes(str_at(row, 14)?.unwrap_or("")),
                status: code(row, 15)?,
            },
        });
        Ok(())
    })
}

pub(super) fn scan_service_facts(
    tx: &mut Transaction<'_>,
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
         WHERE ($1::text IS NULL OR s.service_date >= $1)
           AND ($2::text IS NULL OR s.service_date <= $2)
           AND ($3::text IS NULL OR s.provider_agency = $3){}
         ORDER BY s.case_id",
        country_clause("f.country_of_assistance", &filter.countries)
    );
    let (from, to) = (day_text(filter.from), day_text(filter.to));
    let agency = filter.agency.as_ref().map(|a| a.as_str());
    stream(tx, &sql, &[&from, &to, &agency], |row| {
        let (Some(service_type), Some(date)) = (code(row, 2)?, date(row, 3)?) else {
            return Ok(());
        };
        visit(ServiceFactRow {
            record: record_id_of(col(row, 0)?)?,
            facts: ServiceFacts {
                case_id: record_id_of(col(row, 1)?)?,
                service_type,
                date,
                provider_agency: agency_of(col(row, 4)?)?,
            },
        });
        Ok(())
    })
}

pub(super) fn scan_referral_facts(
    tx: &mut Transaction<'_>,
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
                (SELECT a.at::text || ' ' || substr(a.detail, strpos(a.detail, '-> ') + 3)
                   FROM audit_log a
                  WHERE a.record_id = r.referral_id AND a.event = 'referral_transition'
                    AND (a.detail LIKE '%-> accepted' OR a.detail LIKE '%-> declined')
                  ORDER BY a.at, a.id LIMIT 1)
         FROM referrals r{join}
         WHERE ($1::bigint IS NULL OR r.created_at >= $1)
           AND ($2::bigint IS NULL OR r.created_at < $2)
           AND ($3::text IS NULL OR r.from_agency = $3 OR r.to_agency = $3){}
         ORDER BY r.case_id",
        country_clause("f.country_of_assistance", &filter.countries)
    );
    let from_ms = filter.from.map(|d| d.days_since_epoch() * DAY_MS);
    let to_ms = filter.to.map(|d| (d.days_since_epoch() + 1) * DAY_MS);
    let agency = filter.agency.as_ref().map(|a| a.as_str());
    stream(tx, &sql, &[&from_ms, &to_ms, &agency], |row| {
        let Some(status) = code::<ReferralStatus>(row, 4)? else {
            return Ok(());
        };
        let answer = str_at(row, 6)?.and_then(|text| {
            let (at, status) = text.split_once(' ')?;
            Some((
                ReferralStatus::parse(status.trim())?,
                at.parse::<u64>().ok()?,
            ))
        });
        visit(ReferralFactRow {
            referral: record_id_of(col(row, 0)?)?,
            case_id: record_id_of(col(row, 1)?)?,
            from: agency_of(col(row, 2)?)?,
            to: agency_of(col(row, 3)?)?,
            status,
            sent_at_ms: ms(col(row, 5)?),
            answer,
        });
        Ok(())
    })
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

/// Members of blocks shared by at least two cases, sorted by block.
pub(super) fn scan_match_blocks(
    tx: &mut Transaction<'_>,
    visit: &mut dyn FnMut(&Token, BlockMember),
) -> Result<(), StorageError> {
    let sql = "SELECT b.block, b.record_id, r.owner_agency, f.intake_date, p.name_tokens, p.dob,
                      p.documents, p.phone, p.nationality, p.sex
               FROM match_blocks b
               JOIN match_profiles p ON p.record_id = b.record_id
               JOIN records r ON r.record_id = b.record_id
               LEFT JOIN report_facts f ON f.record_id = b.record_id
               WHERE EXISTS (SELECT 1 FROM match_blocks o
                             WHERE o.block = b.block AND o.record_id <> b.record_id)
               ORDER BY b.block";
    stream(tx, sql, &[], |row| {
        let block: &[u8] = col(row, 0)?;
        let mut b = [0u8; 16];
        if block.len() == 16 {
            b.copy_from_slice(block);
        }
        let phone: Option<&[u8]> = col(row, 7)?;
        let member = BlockMember {
            record: record_id_of(col(row, 1)?)?,
            agency: agency_of(col(row, 2)?)?,
            intake_date: date(row, 3)?,
            profile: MatchProfile {
                name_tokens: tokens(col(row, 4)?),
                dob: tokens(col(row, 5)?),
                documents: tokens(col(row, 6)?),
                phone: phone.and_then(|p| tokens(p).first().copied()),
                nationality: country(row, 8)?,
                sex: code(row, 9)?,
                blocks: Vec::new(),
            },
        };
        visit(&b, member);
        Ok(())
    })
}

pub(super) fn duplicate_decisions(
    tx: &mut Transaction<'_>,
    only_confirmed: bool,
) -> Result<Vec<DuplicateDecision>, StorageError> {
    tx.query(
        "SELECT record_a, record_b, decision, decided_at, decided_by FROM duplicate_decisions
         WHERE (NOT $1 OR decision = 'confirmed') ORDER BY decided_at, record_a, record_b",
        &[&only_confirmed],
    )
    .map_err(backend)?
    .iter()
    .map(|row| {
        Ok(DuplicateDecision {
            record_a: record_id_of(col(row, 0)?)?,
            record_b: record_id_of(col(row, 1)?)?,
            confirmed: col::<&str>(row, 2)? == "confirmed",
            decided_at_ms: ms(col(row, 3)?),
            decided_by: col(row, 4)?,
        })
    })
    .collect()
}

pub(super) fn decide_duplicate(
    tx: &mut Transaction<'_>,
    d: &DuplicateDecision,
) -> Result<(), StorageError> {
    if d.record_a == d.record_b {
        return Err(StorageError::NotFound("pair of two cases"));
    }
    for record in [d.record_a, d.record_b] {
        let is_case: bool = col(
            &tx.query_one(
                "SELECT EXISTS (SELECT 1 FROM records WHERE record_id = $1 AND kind = 'case')",
                &[&record.as_bytes().as_slice()],
            )
            .map_err(backend)?,
            0,
        )?;
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
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (record_a, record_b) DO UPDATE SET
           decision = excluded.decision, decided_at = excluded.decided_at,
           decided_by = excluded.decided_by",
        &[
            &a.as_bytes().as_slice(),
            &b.as_bytes().as_slice(),
            &if d.confirmed { "confirmed" } else { "rejected" },
            &to_sql(d.decided_at_ms),
            &d.decided_by,
        ],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn case_summaries(
    tx: &mut Transaction<'_>,
    cases: &[RecordId],
) -> Result<Vec<CaseSummary>, StorageError> {
    let statement = tx
        .prepare(
            "SELECT r.owner_agency, f.intake_date FROM records r
             LEFT JOIN report_facts f ON f.record_id = r.record_id
             WHERE r.record_id = $1 AND r.kind = 'case'",
        )
        .map_err(backend)?;
    let mut out = Vec::with_capacity(cases.len());
    for record in cases {
        if let Some(row) = tx
            .query_opt(&statement, &[&record.as_bytes().as_slice()])
            .map_err(backend)?
        {
            out.push(CaseSummary {
                record: *record,
                agency: agency_of(col(&row, 0)?)?,
                intake_date: date(&row, 1)?,
            });
        }
    }
    Ok(out)
}

pub(super) fn revoke_api_tokens(
    tx: &mut Transaction<'_>,
    user_id: &str,
    now_ms: u64,
) -> Result<u64, StorageError> {
    if super::directory::user(tx, user_id, None)?.is_none() {
        return Err(StorageError::NotFound("user"));
    }
    let revoked = tx
        .execute(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user_id, &to_sql(now_ms)],
        )
        .map_err(backend)?;
    Ok(revoked)
}
