//! Reading report facts, match blocks and duplicate decisions; API tokens of users; in
//! PostgreSQL.
//!
//! Scans stream rows to a visitor from one read snapshot (`query_raw`: rows arrive as the
//! server sends them; nothing here collects them). Facts, profiles and decisions are sealed at
//! rest ([`crate::storage::sealed_facts`], [`crate::storage::sealed_decisions`]) exactly as
//! in SQLite, so SQL narrows by what is in the clear (owner agency, intake month, referral
//! routing) and the rest of a filter is checked on the opened row.

use super::Tx;
use super::{agency_of, backend, col, ms, record_id_of, to_sql};
use crate::reports::facts::{CaseFactRow, FactFilter, ReferralFactRow, ServiceFactRow};
use crate::reports::matching::{BlockKey, BlockSlice, BLOCK_KEY_BYTES};
use crate::seal::Sealer;
use crate::storage::sealed_facts::{in_countries, in_period, no_country_matches};
use crate::storage::sealed_profile;
use crate::storage::*;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::Row;
use fieldcase_core::model::codes::*;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::RecordId;
use std::collections::HashMap;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

fn str_at(row: &Row, i: usize) -> Result<Option<&str>, StorageError> {
    col(row, i)
}

fn code<T: Code>(row: &Row, i: usize) -> Result<Option<T>, StorageError> {
    Ok(str_at(row, i)?.and_then(T::parse))
}

/// Streams the rows of `sql` to `visit`.
fn stream(
    tx: &mut Tx<'_>,
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

/// Whether the case whose sealed facts are in column `i` is assisted in one of the filter's
/// countries (services and referrals are scoped by their case's country).
fn case_in_countries(
    sealer: &Sealer,
    row: &Row,
    case_id: RecordId,
    i: usize,
    filter: &FactFilter,
) -> Result<bool, StorageError> {
    if filter.countries.is_none() {
        return Ok(true);
    }
    let Some(sealed) = col::<Option<&[u8]>>(row, i)? else {
        return Ok(false);
    };
    let facts = sealed_facts::open_case(sealer, case_id, sealed)?;
    Ok(in_countries(facts.country_of_assistance, filter))
}

/// Cases in scope, opened one row at a time. SQL narrows by owner agency and intake month;
/// the exact period and the countries are checked on the opened facts.
pub(super) fn scan_case_facts(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(CaseFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let from = sealed_facts::intake_month(filter.from);
    let to = sealed_facts::intake_month(filter.to);
    let agency = filter.agency.as_ref().map(|a| a.as_str());
    stream(
        tx,
        "SELECT r.record_id, r.owner_agency, r.facts
         FROM records r
         WHERE r.facts IS NOT NULL
           AND ($1::text IS NULL OR r.intake_month >= $1)
           AND ($2::text IS NULL OR r.intake_month <= $2)
           AND ($3::text IS NULL OR r.owner_agency = $3)",
        &[&from, &to, &agency],
        |row| {
            let record = record_id_of(col(row, 0)?)?;
            let facts = sealed_facts::open_case(sealer, record, col(row, 2)?)?;
            if in_period(facts.intake_date, filter)
                && in_countries(facts.country_of_assistance, filter)
            {
                visit(CaseFactRow {
                    record,
                    agency: agency_of(col(row, 1)?)?,
                    facts,
                });
            }
            Ok(())
        },
    )
}

/// Services in scope, in case order; the period and the provider are checked on the opened
/// facts.
pub(super) fn scan_service_facts(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ServiceFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let sql = if filter.countries.is_some() {
        "SELECT s.record_id, s.case_id, s.facts, f.facts
         FROM service_facts s JOIN records f ON f.record_id = s.case_id
         WHERE f.facts IS NOT NULL
         ORDER BY s.case_id"
    } else {
        "SELECT s.record_id, s.case_id, s.facts, NULL::bytea FROM service_facts s
         ORDER BY s.case_id"
    };
    stream(tx, sql, &[], |row| {
        let record = record_id_of(col(row, 0)?)?;
        let case_id = record_id_of(col(row, 1)?)?;
        let Some(facts) = sealed_facts::open_service(sealer, record, case_id, col(row, 2)?)? else {
            return Ok(());
        };
        if !in_period(Some(facts.date), filter)
            || filter
                .agency
                .as_ref()
                .is_some_and(|a| *a != facts.provider_agency)
            || !case_in_countries(sealer, row, case_id, 3, filter)?
        {
            return Ok(());
        }
        visit(ServiceFactRow { record, facts });
        Ok(())
    })
}

/// Referrals in scope, in case order. Referral columns are routing data in the clear
/// already; only the case's country of assistance (for a country scope) is opened.
pub(super) fn scan_referral_facts(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    filter: &FactFilter,
    visit: &mut dyn FnMut(ReferralFactRow),
) -> Result<(), StorageError> {
    if no_country_matches(filter) {
        return Ok(());
    }
    let (case_facts, join) = if filter.countries.is_some() {
        (
            "f.facts",
            " JOIN records f ON f.record_id = r.case_id AND f.facts IS NOT NULL",
        )
    } else {
        ("NULL::bytea", "")
    };
    // The first answer is the first audited transition to accepted or declined; audit
    // details are codes only (`accept: sent -> accepted`).
    let sql = format!(
        "SELECT r.referral_id, r.case_id, r.from_agency, r.to_agency, r.status, r.created_at,
                (SELECT a.at::text || ' ' || substr(a.detail, strpos(a.detail, '-> ') + 3)
                   FROM audit_log a
                  WHERE a.record_id = r.referral_id AND a.event = 'referral_transition'
                    AND (a.detail LIKE '%-> accepted' OR a.detail LIKE '%-> declined')
                  ORDER BY a.at, a.id LIMIT 1),
                {case_facts}
         FROM referrals r{join}
         WHERE ($1::bigint IS NULL OR r.created_at >= $1)
           AND ($2::bigint IS NULL OR r.created_at < $2)
           AND ($3::text IS NULL OR r.from_agency = $3 OR r.to_agency = $3)
         ORDER BY r.case_id"
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
        let case_id = record_id_of(col(row, 1)?)?;
        if !case_in_countries(sealer, row, case_id, 7, filter)? {
            return Ok(());
        }
        visit(ReferralFactRow {
            referral: record_id_of(col(row, 0)?)?,
            case_id,
            from: agency_of(col(row, 2)?)?,
            to: agency_of(col(row, 3)?)?,
            status,
            sent_at_ms: ms(col(row, 5)?),
            answer,
        });
        Ok(())
    })
}

/// Members of blocks shared by at least two cases, sorted by block; only members' profiles
/// are opened, each once (a case in several blocks is visited with one shared member).
/// Each case's packed blocks (`facts::pack_blocks`) are unpacked into (block, record) pairs
/// and counted per block in one sort; only the pairs of shared blocks fetch a profile.
pub(super) fn scan_match_blocks(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    slice: BlockSlice,
    visit: &mut dyn FnMut(&BlockKey, Arc<BlockMember>),
) -> Result<(), StorageError> {
    // A slice drops whole blocks before they are counted; `$1` is its bound.
    let in_slice = if slice.is_all() {
        ""
    } else {
        "WHERE block < $1"
    };
    let sql = format!(
        "SELECT b.block, b.record_id, p.profile
         FROM (SELECT block, record_id, count(*) OVER (PARTITION BY block) AS members
               FROM (SELECT substring(m.blocks FROM k * {n} + 1 FOR {n}) AS block, m.record_id
                     FROM records m,
                          generate_series(0, length(m.blocks) / {n} - 1) AS k
                     WHERE m.profile IS NOT NULL) AS unpacked
               {in_slice}
              ) AS b
         JOIN records p ON p.record_id = b.record_id
         WHERE b.members > 1
         ORDER BY b.block",
        n = BLOCK_KEY_BYTES
    );
    let sql = sql.as_str();
    let below: Option<&[u8]> = slice.below().map(|b| b.as_slice());
    let params: Vec<&(dyn ToSql + Sync)> = match &below {
        Some(below) => vec![below],
        None => Vec::new(),
    };
    let mut opened: HashMap<RecordId, Arc<BlockMember>> = HashMap::new();
    stream(tx, sql, &params, |row| {
        let block: &[u8] = col(row, 0)?;
        let mut b = [0u8; BLOCK_KEY_BYTES];
        if block.len() == BLOCK_KEY_BYTES {
            b.copy_from_slice(block);
        }
        let record = record_id_of(col(row, 1)?)?;
        let member = match opened.get(&record) {
            Some(m) => m.clone(),
            None => {
                let profile = sealed_profile::open_profile(sealer, record, col(row, 2)?)?;
                let m = Arc::new(BlockMember { record, profile });
                opened.insert(record, m.clone());
                m
            }
        };
        visit(&b, member);
        Ok(())
    })
}

/// Up to `limit` profiles chosen by a hash of their record ids: spread over the whole
/// caseload (old and new cases alike), exactly `limit` when there are that many, and the same
/// rows again while the table is unchanged. PostgreSQL keeps only the `limit` smallest hashes
/// while it reads the table (a bounded sort).
pub(super) fn match_profile_sample(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    limit: usize,
) -> Result<ProfileSample, StorageError> {
    let total: i64 = tx
        .query_one(
            "SELECT count(*) FROM records WHERE profile IS NOT NULL",
            &[],
        )
        .map_err(backend)?
        .get(0);
    if total == 0 || limit == 0 {
        return Ok(ProfileSample {
            cases: total as u64,
            profiles: Vec::new(),
        });
    }
    // The same choice as every backend's (see the trait): bytea compares bytewise, as
    // SQLite's blobs do.
    let sql = format!(
        "SELECT record_id, profile FROM records WHERE profile IS NOT NULL
         ORDER BY substring(record_id from 9 for 8), record_id LIMIT {limit}"
    );
    let mut out = Vec::new();
    stream(tx, &sql, &[], |row| {
        let record = record_id_of(col(row, 0)?)?;
        out.push(sealed_profile::open_profile(sealer, record, col(row, 1)?)?);
        Ok(())
    })?;
    Ok(ProfileSample {
        cases: total as u64,
        profiles: out,
    })
}

/// Every decision (or only confirmations), by time of decision, then pair. Decisions are
/// few (people make them one by one): every row is opened and sorted in memory.
pub(super) fn duplicate_decisions(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    only_confirmed: bool,
) -> Result<Vec<DuplicateDecision>, StorageError> {
    let mut out = Vec::new();
    for row in tx
        .query("SELECT pair_key, decision FROM duplicate_decisions", &[])
        .map_err(backend)?
    {
        let decision = sealed_decisions::open(sealer, col(&row, 0)?, col(&row, 1)?)?;
        if !only_confirmed || decision.confirmed {
            out.push(decision);
        }
    }
    sealed_decisions::sort(&mut out);
    Ok(out)
}

pub(super) fn decide_duplicate(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
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
    let (key, sealed) = sealed_decisions::seal(sealer, d);
    tx.execute(
        "INSERT INTO duplicate_decisions (pair_key, decision) VALUES ($1, $2)
         ON CONFLICT (pair_key) DO UPDATE SET decision = excluded.decision",
        &[&key.as_slice(), &sealed],
    )
    .map_err(backend)?;
    Ok(())
}

pub(super) fn case_summaries(
    tx: &mut Tx<'_>,
    sealer: &Sealer,
    cases: &[RecordId],
) -> Result<Vec<CaseSummary>, StorageError> {
    // Prepared once (by the connection's cache) and run per case.
    let statement = "SELECT r.owner_agency, r.facts FROM records r
         WHERE r.record_id = $1 AND r.kind = 'case'";
    let mut out = Vec::with_capacity(cases.len());
    for record in cases {
        if let Some(row) = tx
            .query_opt(statement, &[&record.as_bytes().as_slice()])
            .map_err(backend)?
        {
            let intake_date = match col::<Option<&[u8]>>(&row, 1)? {
                Some(sealed) => sealed_facts::open_case_intake(sealer, *record, sealed)?,
                None => None,
            };
            out.push(CaseSummary {
                record: *record,
                agency: agency_of(col(&row, 0)?)?,
                intake_date,
            });
        }
    }
    Ok(out)
}

pub(super) fn revoke_api_tokens(
    tx: &mut Tx<'_>,
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
