//! Which agency owns a case, as a device can tell from the referrals it holds.
//!
//! The server is the authority on ownership: it moves a case when it accepts a transfer. A
//! device learns of it through the referral records the server distributes, and derives the
//! owner with [`case_owner`] so it can refuse local edits to a case its agency no longer holds
//! (the server would refuse them anyway; refusing locally tells the caseworker at once).
//!
//! The latest accepted transfer wins. "Latest" is by the referral's creation version: a
//! transfer can only be made by the agency that owns the case, which it became by accepting the
//! previous transfer, so the device that made the next referral had already observed that
//! acceptance and its clock is past it. With no accepted transfer, the case belongs to the
//! sender of the earliest referral the device knows (a case this device received), or stays
//! with the owner it has.

use super::status::ReferralStatus;
use crate::hlc::Hlc;
use crate::ids::AgencyCode;

/// What ownership depends on, for one referral of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralFacts {
    pub from: AgencyCode,
    pub to: AgencyCode,
    pub transfer: bool,
    /// The server's status; `None` before the server has seen it.
    pub status: Option<ReferralStatus>,
    /// The version of the referral's creation.
    pub created: Hlc,
}

/// The owner of a case, given the owner known so far and the case's referrals.
pub fn case_owner(known: &AgencyCode, referrals: &[ReferralFacts]) -> AgencyCode {
    let accepted_transfer = referrals
        .iter()
        .filter(|r| {
            r.transfer
                && matches!(
                    r.status,
                    Some(ReferralStatus::Accepted | ReferralStatus::Completed)
                )
        })
        .max_by_key(|r| r.created);
    if let Some(transfer) = accepted_transfer {
        return transfer.to.clone();
    }
    referrals
        .iter()
        .min_by_key(|r| r.created)
        .map_or_else(|| known.clone(), |first| first.from.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeviceId;

    fn agency(code: &str) -> AgencyCode {
        AgencyCode::parse(code).unwrap()
    }

    fn facts(
        from: &str,
        to: &str,
        transfer: bool,
        status: ReferralStatus,
        at: u64,
    ) -> ReferralFacts {
        ReferralFacts {
            from: agency(from),
            to: agency(to),
            transfer,
            status: Some(status),
            created: Hlc {
                wall_ms: at,
                counter: 0,
                device: DeviceId::from_bytes([1; 16]),
            },
        }
    }

    #[test]
    fn the_latest_accepted_transfer_decides() {
        use ReferralStatus::*;
        let me = agency("iom_uga");
        assert_eq!(case_owner(&me, &[]), me);
        let sent = facts("iom_uga", "iom_eth", true, Sent, 1);
        assert_eq!(case_owner(&me, std::slice::from_ref(&sent)), me);
        assert_eq!(
            case_owner(&agency("iom_eth"), std::slice::from_ref(&sent)),
            me,
            "a received case belongs to its sender"
        );
        let accepted = facts("iom_uga", "iom_eth", true, Accepted, 1);
        assert_eq!(
            case_owner(&me, std::slice::from_ref(&accepted)),
            agency("iom_eth")
        );
        let referral_only = facts("iom_uga", "ngo_x", false, Accepted, 2);
        assert_eq!(
            case_owner(&me, std::slice::from_ref(&referral_only)),
            me,
            "a referral is not a transfer"
        );
        let onward = facts("iom_eth", "ngo_x", true, Completed, 3);
        assert_eq!(
            case_owner(&me, &[onward, accepted, referral_only]),
            agency("ngo_x")
        );
        let declined = facts("iom_uga", "iom_eth", true, Declined, 1);
        assert_eq!(case_owner(&me, &[declined]), me);
    }
}
