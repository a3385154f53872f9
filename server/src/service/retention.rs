//! Retention: how long an agency keeps closed cases, and purging those past it.
//!
//! An agency admin sets a number of days ([`set_retention_days`]); a case of that agency whose
//! `status` has been `closed` for longer (by the clock of the edit that closed it) is purged
//! by [`purge_expired`] — run by `fieldcase serve`'s housekeeping and by `fieldcase admin
//! retention purge`. Purging a case purges what hangs on it (services, notes, referrals,
//! attachments) in one transaction per case ([`crate::storage::port::StoreTx::purge_records`]
//! says what goes and what stays), and writes a `case_purged` audit entry. A device's late
//! edit to a purged record is refused with [`fieldcase_core::protocol::RejectReason::Purged`]
//! (see [`super::rules`]) and kept aside on the device with that reason.
//!
//! Every agency that may hold a copy (the owner, the agencies its referrals reached) gets a
//! purge notice in the log ([`fieldcase_core::protocol::PURGED_FIELD`]): each of its devices
//! drops the case at its next sync, however long it was offline.
//!
//! Report figures for past periods do not change: each purged record keeps its sealed report
//! facts (the report's dimensions only) and referral rows, with nothing behind its id any more.
//! Its match profile goes, so a purged case is no longer proposed as a duplicate.

use crate::storage::port::StoreTx;
use crate::storage::{AuditEntry, AuditEvent, Storage, StorageError};
use fieldcase_core::model::codes::Status;
use fieldcase_core::protocol::PURGED_FIELD;
use fieldcase_core::{AgencyCode, FieldChange, Operation, RecordId, RecordKind};
use std::collections::BTreeSet;

/// Settings key prefix of each agency's retention period, in days (decimal text).
const SETTING_PREFIX: &str = "retention_days/";

/// The longest retention period an agency may set: a century says "keep" without overflow.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// What one purge did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeReport {
    /// Cases purged.
    pub cases: u64,
    /// Records purged with them (services, notes, referrals, attachments).
    pub dependents: u64,
}

fn setting_key(agency: &AgencyCode) -> String {
    format!("{SETTING_PREFIX}{agency}")
}

/// Sets (or, with `None`, clears: keep for ever) how many days `agency` keeps closed cases.
/// `NotFound("agency")` for an unknown agency; `Rejected` for 0 or more than
/// [`MAX_RETENTION_DAYS`].
pub fn set_retention_days(
    storage: &dyn Storage,
    agency: &AgencyCode,
    days: Option<u32>,
) -> Result<(), StorageError> {
    if let Some(d) = days {
        if d == 0 || d > MAX_RETENTION_DAYS {
            return Err(StorageError::Rejected(format!(
                "retention must be 1 to {MAX_RETENTION_DAYS} days"
            )));
        }
    }
    crate::storage::write(storage, |tx| {
        if !tx.agency_exists(agency)? {
            return Err(StorageError::NotFound("agency"));
        }
        let value = days.map(|d| d.to_string()).unwrap_or_default();
        tx.put_setting(&setting_key(agency), value.as_bytes())
    })
}

/// How many days `agency` keeps closed cases; `None`: for ever.
pub fn retention_days(
    storage: &dyn Storage,
    agency: &AgencyCode,
) -> Result<Option<u32>, StorageError> {
    crate::storage::read(storage, |tx| {
        Ok(tx
            .setting(&setting_key(agency))?
            .and_then(|v| parse_days(&v)))
    })
}

fn parse_days(value: &[u8]) -> Option<u32> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// When a case closed (the clock of the edit that set `status: closed`), if it is closed.
fn closed_since(tx: &mut dyn StoreTx, case: RecordId) -> Result<Option<u64>, StorageError> {
    let Some(state) = tx.record_state(case)? else {
        return Ok(None);
    };
    Ok(state
        .fields
        .get("status")
        .and_then(|f| (f.value.as_str() == Some(Status::Closed.as_str())).then_some(f.hlc.wall_ms)))
}

/// Purges every case closed for longer than its agency's retention period, at `now_ms`.
pub fn purge_expired(storage: &dyn Storage, now_ms: u64) -> Result<PurgeReport, StorageError> {
    let mut report = PurgeReport::default();
    let periods = crate::storage::read(storage, |tx| tx.settings_with_prefix(SETTING_PREFIX))?;
    for (key, value) in periods {
        let (Some(agency), Some(days)) = (
            key.strip_prefix(SETTING_PREFIX)
                .and_then(|a| AgencyCode::parse(a).ok()),
            parse_days(&value),
        ) else {
            continue;
        };
        let cutoff = now_ms.saturating_sub(u64::from(days) * DAY_MS);
        let expired = crate::storage::read(storage, |tx| {
            let mut expired = Vec::new();
            for (case, _) in tx.records_of_kind(RecordKind::Case, Some(&agency))? {
                if closed_since(tx, case)?.is_some_and(|at| at < cutoff) {
                    expired.push(case);
                }
            }
            Ok(expired)
        })?;
        for case in expired {
            let purged =
                crate::storage::write(storage, |tx| purge_case(tx, &agency, case, cutoff, now_ms))?;
            if let Some(dependents) = purged {
                report.cases += 1;
                report.dependents += dependents;
            }
        }
    }
    Ok(report)
}

/// Purges one case and what hangs on it if it is still closed since before `cutoff` (an edit
/// may have reopened it since it was listed); returns how many dependents went with it.
fn purge_case(
    tx: &mut dyn StoreTx,
    agency: &AgencyCode,
    case: RecordId,
    cutoff: u64,
    now_ms: u64,
) -> Result<Option<u64>, StorageError> {
    let still_expired = matches!(closed_since(tx, case)?, Some(at) if at < cutoff);
    if tx.is_purged(case)? || !still_expired {
        return Ok(None);
    }
    // Every agency that may hold a copy: the owner, and each agency a referral of the case
    // reached (read before the purge removes the access they were granted).
    let mut holders: BTreeSet<AgencyCode> = BTreeSet::from([agency.clone()]);
    for referral in tx.referrals_of_case(case)? {
        holders.insert(referral.from_agency);
        holders.insert(referral.to_agency);
    }
    holders.extend(tx.case_access(case)?.into_iter().map(|a| a.agency));
    let mut records = tx.records_of_case(case)?;
    let dependents = records.len() as u64;
    records.push(case);
    tx.purge_records(&records, now_ms)?;
    for holder in &holders {
        notify_purged(tx, holder, case, now_ms)?;
    }
    super::audit::append(
        tx,
        &AuditEntry {
            at_ms: now_ms,
            event: AuditEvent::CasePurged,
            agency: agency.clone(),
            device: None,
            user_id: None,
            record_id: Some(case),
            first_position: None,
            last_position: None,
            ops: Some(u32::try_from(dependents).unwrap_or(u32::MAX)),
            detail: Some("retention".into()),
        },
    )?;
    Ok(Some(dependents))
}

/// Appends the purge notice of `case` for the devices of `holder` (see
/// [`fieldcase_core::protocol::PURGED_FIELD`]). Each holder gets its own notice, written as
/// if it were that agency's own record, so the pull's visibility rule hands it over whole:
/// it holds nothing but the marker.
fn notify_purged(
    tx: &mut dyn StoreTx,
    holder: &AgencyCode,
    case: RecordId,
    now_ms: u64,
) -> Result<(), StorageError> {
    let op = Operation {
        op_id: tx.server_op_id()?,
        kind: RecordKind::Case,
        record_id: case,
        hlc: tx.server_clock(now_ms)?,
        fields: [(PURGED_FIELD.to_owned(), FieldChange::fresh(true.into()))].into(),
    };
    tx.append(&op, holder, &[(holder.clone(), None)])?;
    Ok(())
}
