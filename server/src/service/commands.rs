//! Referral commands: whether a transition a device asks for applies. Pure, no I/O.
//!
//! The server is the authority for a referral's status. A command applies only if the referral
//! is one the device's agency is party to, it is still in the status the device expected
//! (compare-and-set: two devices answering the same referral offline cannot both win), and
//! the transition is one [`next_status`] allows for that party. The referral service calls [`decide`] inside
//! the transaction that applies the result and records it under the command's id.

use fieldcase_core::protocol::{CommandRejection, ReferralCommand};
use fieldcase_core::referral::{next_status, Party, ReferralStatus, TransitionError};
use fieldcase_core::AgencyCode;

pub use crate::storage::port::ReferralRow;

/// A refused command: why, and the status as it stands (`None` when the referral is unknown
/// to the agency).
pub type Refusal = (CommandRejection, Option<ReferralStatus>);

/// The status a command leads to, or why it is refused.
///
/// An unknown referral and a referral between other agencies get the same answer, so a
/// command reveals nothing about referrals the agency is not party to.
pub fn decide(
    agency: &AgencyCode,
    referral: Option<&ReferralRow>,
    command: &ReferralCommand,
) -> Result<ReferralStatus, Refusal> {
    let Some(referral) = referral else {
        return Err((CommandRejection::UnknownReferral, None));
    };
    let Some(party) = Party::of(agency, &referral.from_agency, &referral.to_agency) else {
        return Err((CommandRejection::UnknownReferral, None));
    };
    let current = Some(referral.status);
    if referral.status != command.expected_status {
        return Err((CommandRejection::StatusChanged, current));
    }
    next_status(
        referral.status,
        command.transition,
        party,
        referral.transfer,
        command.reason.as_deref(),
    )
    .map_err(|error| {
        let code = match error {
            TransitionError::WrongParty { .. } => CommandRejection::WrongAgency,
            TransitionError::DeclineNeedsReason => CommandRejection::ReasonRequired,
            TransitionError::InvalidReason(_) => CommandRejection::InvalidReason,
            _ => CommandRejection::IllegalTransition,
        };
        (code, current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::referral::Transition;
    use fieldcase_core::RecordId;
    use fieldcase_core::{DeviceId, OpId};
    use std::collections::BTreeSet;

    fn agency(code: &str) -> AgencyCode {
        AgencyCode::parse(code).unwrap()
    }

    fn row(status: ReferralStatus, transfer: bool) -> ReferralRow {
        ReferralRow {
            referral_id: RecordId::from_bytes([1; 16]),
            case_id: RecordId::from_bytes([2; 16]),
            from_agency: agency("iom_uga"),
            to_agency: agency("iom_eth"),
            status,
            transfer,
            share_back: false,
            shared_fields: BTreeSet::new(),
        }
    }

    fn command(
        transition: Transition,
        expected: ReferralStatus,
        reason: Option<&str>,
    ) -> ReferralCommand {
        ReferralCommand {
            command_id: OpId {
                device: DeviceId::from_bytes([3; 16]),
                seq: 1,
            },
            referral_id: RecordId::from_bytes([1; 16]),
            transition,
            expected_status: expected,
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn every_illegal_transition_has_a_typed_refusal() {
        use ReferralStatus::*;
        use Transition::*;
        let (a, b, c) = (agency("iom_uga"), agency("iom_eth"), agency("ngo_c"));
        let sent = row(Sent, false);
        assert_eq!(
            decide(&b, Some(&sent), &command(Accept, Sent, None)),
            Ok(Accepted)
        );
        assert_eq!(
            decide(&b, None, &command(Accept, Sent, None)),
            Err((CommandRejection::UnknownReferral, None))
        );
        assert_eq!(
            decide(&c, Some(&sent), &command(Accept, Sent, None)),
            Err((CommandRejection::UnknownReferral, None)),
            "a referral between other agencies looks unknown"
        );
        assert_eq!(
            decide(&a, Some(&sent), &command(Accept, Sent, None)),
            Err((CommandRejection::WrongAgency, Some(Sent)))
        );
        assert_eq!(
            decide(&b, Some(&sent), &command(Cancel, Sent, None)),
            Err((CommandRejection::WrongAgency, Some(Sent)))
        );
        assert_eq!(
            decide(
                &b,
                Some(&row(Accepted, false)),
                &command(Decline, Sent, Some("x"))
            ),
            Err((CommandRejection::StatusChanged, Some(Accepted)))
        );
        assert_eq!(
            decide(&b, Some(&sent), &command(Complete, Sent, None)),
            Err((CommandRejection::IllegalTransition, Some(Sent)))
        );
        assert_eq!(
            decide(
                &a,
                Some(&row(Accepted, true)),
                &command(Cancel, Accepted, None)
            ),
            Err((CommandRejection::IllegalTransition, Some(Accepted)))
        );
        assert_eq!(
            decide(&b, Some(&sent), &command(Decline, Sent, None)),
            Err((CommandRejection::ReasonRequired, Some(Sent)))
        );
        assert_eq!(
            decide(&b, Some(&sent), &command(Decline, Sent, Some("bad\u{7}"))),
            Err((CommandRejection::InvalidReason, Some(Sent)))
        );
    }
}
