//! Bulk loading for benchmarks and load tests: cases, referrals and duplicate decisions
//! written straight into the tables reports read, in large transactions.
//!
//! Cases go through the same derivation as a sync does ([`super::facts::write_case`]: report
//! facts and keyed match profile, sealed), but skip the operation log and the sealed state, which
//! reports never read. Not for production data: nothing here is audited or addressed to
//! devices.

use super::{backend, facts, to_sql_ms, SqliteStorage};
use crate::storage::{DuplicateDecision, StorageError};
use fieldcase_core::model::Case;
use fieldcase_core::referral::ReferralStatus;
use fieldcase_core::{AgencyCode, RecordId};
use rusqlite::params;

/// One referral to load.
#[derive(Clone, Debug)]
pub struct BulkReferral {
    pub referral: RecordId,
    pub case_id: RecordId,
    pub from: AgencyCode,
    pub to: AgencyCode,
    pub status: ReferralStatus,
    pub sent_at_ms: u64,
    /// The first answer (accepted or declined) and when.
    pub answer: Option<(ReferralStatus, u64)>,
}

impl SqliteStorage {
    /// Loads cases of one agency (which must exist) in one transaction.
    pub fn bulk_load_cases(
        &self,
        agency: &AgencyCode,
        cases: &[(RecordId, Case)],
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records
                       (record_id, kind, owner_agency, case_id, created_device, created_seq)
                     VALUES (?1, 'case', ?2, NULL, ?3, ?4)",
                )
                .map_err(backend)?;
            for (i, (id, case)) in cases.iter().enumerate() {
                insert
                    .execute(params![
                        id.as_bytes(),
                        agency.as_str(),
                        [0u8; 16].as_slice(),
                        i as i64
                    ])
                    .map_err(backend)?;
                facts::write_case(tx, &self.sealer, *id, case)?;
            }
            Ok(())
        })
    }

    /// Loads referrals (their cases must be loaded) in one transaction, with the audit of
    /// their first answer as the server writes it.
    pub fn bulk_load_referrals(&self, referrals: &[BulkReferral]) -> Result<(), StorageError> {
        self.write(|tx| {
            for (i, r) in referrals.iter().enumerate() {
                tx.prepare_cached(
                    "INSERT INTO records
                       (record_id, kind, owner_agency, case_id, created_device, created_seq)
                     VALUES (?1, 'referral', ?2, ?3, ?4, ?5)",
                )
                .map_err(backend)?
                .execute(params![
                    r.referral.as_bytes(),
                    r.from.as_str(),
                    r.case_id.as_bytes(),
                    [1u8; 16].as_slice(),
                    i as i64
                ])
                .map_err(backend)?;
                tx.prepare_cached(
                    "INSERT INTO referrals
                       (referral_id, case_id, from_agency, to_agency, status, transfer,
                        share_back, shared_fields, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, '[]', ?6, ?6)",
                )
                .map_err(backend)?
                .execute(params![
                    r.referral.as_bytes(),
                    r.case_id.as_bytes(),
                    r.from.as_str(),
                    r.to.as_str(),
                    r.status.as_str(),
                    to_sql_ms(r.sent_at_ms)
                ])
                .map_err(backend)?;
                if let Some((status, at)) = r.answer {
                    let verb = if status == ReferralStatus::Accepted {
                        "accept"
                    } else {
                        "decline"
                    };
                    tx.prepare_cached(
                        "INSERT INTO audit_log (at, event, agency, record_id, detail)
                         VALUES (?1, 'referral_transition', ?2, ?3, ?4)",
                    )
                    .map_err(backend)?
                    .execute(params![
                        to_sql_ms(at),
                        r.to.as_str(),
                        r.referral.as_bytes(),
                        format!("{verb}: sent -> {status}")
                    ])
                    .map_err(backend)?;
                }
            }
            Ok(())
        })
    }

    /// Records many duplicate decisions in one transaction.
    pub fn bulk_load_decisions(&self, decisions: &[DuplicateDecision]) -> Result<(), StorageError> {
        self.write(|tx| {
            for d in decisions {
                super::decisions::decide(tx, &self.sealer, d)?;
            }
            Ok(())
        })
    }
}
