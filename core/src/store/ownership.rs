//! Who owns each case on this device, and what a device of another agency may do with it.
//!
//! The server moves a case when it accepts a transfer; the device learns it from the referral
//! records the server distributes and keeps each case's `owner_agency` column current with
//! [`crate::referral::case_owner`], in the same transaction as the page that changed a case or
//! a referral. That column is what the store checks before a local edit: a case of another
//! agency can be read here but not changed ([`super::StoreError::NotOwner`]). Services and
//! notes also go on a case referred to this agency once it accepted the referral.

use super::error::{Result, StoreError};
use super::records::StoredRecord;
use super::referrals::id_from_blob;
use super::summary::{write_summary, CaseSummary};
use super::Store;
use crate::crypto::StoreKeys;
use crate::ids::{AgencyCode, RecordId};
use crate::merge::op::RecordKind;
use crate::referral::record::SERVER_KEYS;
use crate::referral::{case_owner, Referral, ReferralFacts, ReferralStatus, ServerState};
use rusqlite::{params, Connection};
use std::collections::{BTreeMap, BTreeSet};

fn referral_facts(record: &StoredRecord) -> Option<ReferralFacts> {
    let values = record.state.values();
    let referral = Referral::from_stored(&values).ok()?;
    let created = record
        .state
        .fields
        .iter()
        .filter(|(k, _)| !SERVER_KEYS.contains(&k.as_str()))
        .map(|(_, f)| f.hlc)
        .min()?;
    Some(ReferralFacts {
        from: referral.from_agency,
        to: referral.to_agency,
        transfer: referral.transfer,
        status: ServerState::read(&values).status,
        created,
    })
}

impl Store {
    /// Brings the owner agency of these cases up to date with the referrals the store holds,
    /// inside the caller's transaction.
    pub(crate) fn refresh_case_owners(
        conn: &Connection,
        keys: &StoreKeys,
        cases: &BTreeSet<RecordId>,
    ) -> Result<()> {
        for case_id in cases {
            // Without referrals the owner stays what it is (`case_owner` of no facts): most
            // cases of a first sync, which then skip unsealing the case a second time.
            let referrals = Self::referral_ids_of(conn, case_id)?;
            if referrals.is_empty() {
                continue;
            }
            let Some(case) = Self::load_record(conn, keys, case_id)? else {
                continue;
            };
            if case.state.kind != RecordKind::Case {
                continue;
            }
            let facts = Self::facts_of_referrals(conn, keys, referrals)?;
            let known = AgencyCode::parse(&case.owner_agency).map_err(|_| StoreError::Corrupt)?;
            let owner = case_owner(&known, &facts);
            if owner != known {
                conn.execute(
                    "UPDATE records SET owner_agency = ?1 WHERE id = ?2",
                    params![owner.as_str(), &case_id.as_bytes()[..]],
                )?;
                // The summary shows the owner: rewritten in the same transaction.
                let summary = CaseSummary::of(*case_id, &case.state, owner.as_str());
                write_summary(conn, keys, &summary)?;
            }
        }
        Ok(())
    }

    fn referral_ids_of(conn: &Connection, case_id: &RecordId) -> Result<Vec<Vec<u8>>> {
        let mut stmt =
            conn.prepare_cached("SELECT id FROM records WHERE case_id = ?1 AND kind = 'referral'")?;
        let ids = stmt
            .query_map([&case_id.as_bytes()[..]], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    fn referral_facts_of(
        conn: &Connection,
        keys: &StoreKeys,
        case_id: &RecordId,
    ) -> Result<Vec<ReferralFacts>> {
        Self::facts_of_referrals(conn, keys, Self::referral_ids_of(conn, case_id)?)
    }

    fn facts_of_referrals(
        conn: &Connection,
        keys: &StoreKeys,
        ids: Vec<Vec<u8>>,
    ) -> Result<Vec<ReferralFacts>> {
        let mut facts = Vec::new();
        for bytes in ids {
            let id = id_from_blob(bytes)?;
            if let Some(record) = Self::load_record(conn, keys, &id)? {
                facts.extend(referral_facts(&record));
            }
        }
        Ok(facts)
    }

    /// Whether a referral of the case to this device's agency is accepted, which lets it
    /// add services and notes to a case it does not own (the server applies the same rule).
    pub(crate) fn accepted_referral_to_me(&self, case_id: &RecordId) -> Result<bool> {
        let keys = self.keys()?;
        let me = &self.identity.agency;
        Ok(Self::referral_facts_of(&self.conn, keys, case_id)?
            .iter()
            .any(|f| &f.to == me && f.status == Some(ReferralStatus::Accepted)))
    }
}

/// Case ids whose owner may have changed with these records: the cases themselves, and the
/// cases of referrals.
pub(crate) fn cases_touched(
    changed: &BTreeMap<RecordId, (RecordKind, Option<RecordId>)>,
) -> BTreeSet<RecordId> {
    changed
        .iter()
        .filter_map(|(id, (kind, case_id))| match kind {
            RecordKind::Case => Some(*id),
            RecordKind::Referral => *case_id,
            _ => None,
        })
        .collect()
}
