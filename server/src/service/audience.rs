//! Who an operation is addressed to, and what of a case an agency holds.
//!
//! - `for_operation`: a device's operation on a record goes to the record's owner; an
//!   operation on a case also to every agency with open access to it, for the fields of the
//!   operation its referrals share and the case's consent allows now; a service or note of a
//!   receiving agency also to the referring agency when the referral shares back.
//! - `held_fields`: what an agency may pass on when it refers a case onward. The agency that
//!   recorded the case holds all of it; an agency that received it (by referral or transfer)
//!   holds only what its referrals shared, plus the fields whose current value one of its own
//!   devices wrote. A referral lists at most what its sender holds, so a transfer followed by
//!   an onward referral never hands a third agency what the second never had.
//! - `counted_grants`: the access rows that still give an agency something — open ones, and
//!   the grant of a transfer it accepted (the access row ends when the case becomes its own,
//!   but what it received stays what it holds).

use crate::storage::port::{Audience, CaseAccess, ReferralRow, StoreTx};
use crate::storage::StorageError;
use fieldcase_core::merge::RecordState;
use fieldcase_core::referral::{shareable, ReferralStatus};
use fieldcase_core::{AgencyCode, Operation, RecordId, RecordKind};
use std::collections::{BTreeMap, BTreeSet};

/// The agencies a device's operation is addressed to (see the module docs).
pub(super) fn for_operation(
    tx: &mut dyn StoreTx,
    op: &Operation,
    owner: &AgencyCode,
    case_id: Option<RecordId>,
    after: &RecordState,
) -> Result<Vec<Audience>, StorageError> {
    let mut audiences: Vec<Audience> = vec![(owner.clone(), None)];
    match op.kind {
        RecordKind::Case => {
            let values = after.values();
            for (agency, listed) in open_access(tx, op.record_id)? {
                if &agency == owner {
                    continue;
                }
                let allowed = shareable(&listed, &values, &agency);
                if op.fields.keys().any(|k| allowed.contains(k)) {
                    audiences.push((agency, Some(allowed)));
                }
            }
        }
        RecordKind::Service | RecordKind::Note => {
            let Some(case_id) = case_id else {
                return Ok(audiences);
            };
            for referral in tx.referrals_of_case(case_id)? {
                if &referral.to_agency == owner
                    && referral.status == ReferralStatus::Accepted
                    && referral.share_back
                {
                    audiences.push((referral.from_agency, None));
                }
            }
        }
        // Attachment records are the server's own, addressed by `attachment_records`.
        RecordKind::Referral | RecordKind::Form | RecordKind::Attachment => {}
    }
    Ok(audiences)
}

/// Agencies with open access to a case, each with the union of the fields its referrals list.
pub(super) fn open_access(
    tx: &mut dyn StoreTx,
    case: RecordId,
) -> Result<BTreeMap<AgencyCode, BTreeSet<String>>, StorageError> {
    let mut access: BTreeMap<AgencyCode, BTreeSet<String>> = BTreeMap::new();
    for grant in tx.case_access(case)? {
        if grant.until.is_none() {
            access.entry(grant.agency).or_default().extend(grant.fields);
        }
    }
    Ok(access)
}

/// A grant that still gives its agency something: open, or the grant of a transfer it
/// accepted.
pub(super) fn counts(grant: &CaseAccess, referral: Option<&ReferralRow>) -> bool {
    grant.until.is_none()
        || referral.is_some_and(|r| {
            r.transfer
                && r.to_agency == grant.agency
                && matches!(
                    r.status,
                    ReferralStatus::Accepted | ReferralStatus::Completed
                )
        })
}

/// The grants of a case that count for `agency`, each with the agency that made it.
pub(super) fn counted_grants(
    access: &[CaseAccess],
    referrals: &[ReferralRow],
    agency: &AgencyCode,
) -> Vec<(CaseAccess, AgencyCode)> {
    access
        .iter()
        .filter(|g| &g.agency == agency)
        .filter_map(|g| {
            let referral = referrals.iter().find(|r| r.referral_id == g.referral_id);
            counts(g, referral)
                .then(|| referral.map(|r| (g.clone(), r.from_agency.clone())))
                .flatten()
        })
        .collect()
}

/// The fields of `case` that `agency` holds (`None`: all of them). See the module docs.
pub(super) fn held_fields(
    tx: &mut dyn StoreTx,
    case: RecordId,
    agency: &AgencyCode,
    state: &RecordState,
) -> Result<Option<BTreeSet<String>>, StorageError> {
    if tx.record_creator(case)?.as_ref() == Some(agency) {
        return Ok(None);
    }
    let access = tx.case_access(case)?;
    let referrals = tx.referrals_of_case(case)?;
    let mut held: BTreeSet<String> = counted_grants(&access, &referrals, agency)
        .into_iter()
        .flat_map(|(grant, _)| grant.fields)
        .collect();
    let mut agency_of = BTreeMap::new();
    for (key, field) in &state.fields {
        let writer = match agency_of.get(&field.hlc.device) {
            Some(found) => found,
            None => {
                let found = tx.device_agency(field.hlc.device)?;
                agency_of.entry(field.hlc.device).or_insert(found)
            }
        };
        if writer.as_ref() == Some(agency) {
            held.insert(key.clone());
        }
    }
    Ok(Some(held))
}
