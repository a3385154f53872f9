//! The referral state machine: who may move a referral, from which status, to which.
//!
//! ```text
//!   sent ──accept──▶ accepted ──complete──▶ completed
//!     │                  │
//!     ├──decline──▶ declined
//!     └──cancel───▶ cancelled ◀──cancel── accepted (not a transfer)
//! ```
//!
//! Only the receiving agency accepts, declines or completes; only the sending agency cancels;
//! a decline carries a reason. An accepted *transfer* cannot be cancelled: acceptance moved the
//! case to the receiving agency, and the sender no longer holds it. [`next_status`] is the one
//! place these rules live; the device checks a transition with it before queueing the command
//! and the server applies it again, as compare-and-set, when the command arrives.

use crate::ids::AgencyCode;
use crate::model::codes::code_set;
use crate::model::read;
use crate::model::Reason;
use std::fmt;

code_set! {
    /// Where a referral stands. `sent` until the receiving agency answers.
    ReferralStatus {
        Sent = "sent",
        Accepted = "accepted",
        Declined = "declined",
        Cancelled = "cancelled",
        Completed = "completed",
    }
}

code_set! {
    /// What a party asks to do with a referral.
    Transition {
        Accept = "accept",
        Decline = "decline",
        Cancel = "cancel",
        Complete = "complete",
    }
}

code_set! {
    /// How urgently the receiving agency should answer.
    Urgency { Low = "low", Medium = "medium", High = "high", Emergency = "emergency" }
}

impl ReferralStatus {
    /// Whether the referral is still open: the receiving agency can see the shared fields.
    pub fn is_active(self) -> bool {
        matches!(self, ReferralStatus::Sent | ReferralStatus::Accepted)
    }
}

impl Transition {
    /// The status this transition leads to.
    pub fn target(self) -> ReferralStatus {
        match self {
            Transition::Accept => ReferralStatus::Accepted,
            Transition::Decline => ReferralStatus::Declined,
            Transition::Cancel => ReferralStatus::Cancelled,
            Transition::Complete => ReferralStatus::Completed,
        }
    }

    /// The party allowed to make this transition.
    pub fn party(self) -> Party {
        match self {
            Transition::Cancel => Party::Sender,
            Transition::Accept | Transition::Decline | Transition::Complete => Party::Receiver,
        }
    }
}

/// Which side of a referral an agency is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The agency that made the referral.
    Sender,
    /// The agency the referral is addressed to.
    Receiver,
}

impl Party {
    /// The side `agency` is on, or `None` when it is neither (a referral never goes from an
    /// agency to itself, so there is no ambiguity).
    pub fn of(agency: &AgencyCode, from: &AgencyCode, to: &AgencyCode) -> Option<Party> {
        if agency == from {
            Some(Party::Sender)
        } else if agency == to {
            Some(Party::Receiver)
        } else {
            None
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Party::Sender => "sending",
            Party::Receiver => "receiving",
        })
    }
}

/// Longest reason for a transition (a decline's why, a cancellation's note), in characters:
/// a paragraph. Longer accounts belong in a note on the case.
pub const MAX_TRANSITION_REASON_CHARS: usize = 2000;

/// Why a transition is refused. Built from codes and static text only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("only the {allowed} agency may {transition} a referral")]
    WrongParty {
        transition: Transition,
        allowed: Party,
    },
    #[error("a referral that is {from} cannot take the transition {transition}")]
    IllegalTransition {
        from: ReferralStatus,
        transition: Transition,
    },
    #[error("an accepted transfer cannot be cancelled: the case already belongs to the receiving agency")]
    TransferAccepted,
    #[error("declining a referral needs a reason")]
    DeclineNeedsReason,
    #[error("the reason is not acceptable: {0}")]
    InvalidReason(Reason),
}

/// The status after `transition`, made by `party` on a referral that is `current`.
///
/// Checks, in order: the party may make this transition at all; the transition leaves
/// `current`; an accepted transfer is not cancelled; a decline has a reason; a reason given is
/// within bounds.
pub fn next_status(
    current: ReferralStatus,
    transition: Transition,
    party: Party,
    transfer: bool,
    reason: Option<&str>,
) -> Result<ReferralStatus, TransitionError> {
    use ReferralStatus::*;
    use Transition::*;
    if transition.party() != party {
        return Err(TransitionError::WrongParty {
            transition,
            allowed: transition.party(),
        });
    }
    let legal = matches!(
        (current, transition),
        (Sent, Accept | Decline | Cancel) | (Accepted, Complete | Cancel)
    );
    if !legal {
        return Err(TransitionError::IllegalTransition {
            from: current,
            transition,
        });
    }
    if transfer && current == Accepted && transition == Cancel {
        return Err(TransitionError::TransferAccepted);
    }
    match reason {
        None if transition == Decline => return Err(TransitionError::DeclineNeedsReason),
        None => {}
        Some(text) => {
            let value = serde_json::Value::from(text);
            match read::prose(&value, MAX_TRANSITION_REASON_CHARS) {
                Ok(_) => {}
                Err(Reason::EmptyText) if transition == Decline => {
                    return Err(TransitionError::DeclineNeedsReason)
                }
                Err(why) => return Err(TransitionError::InvalidReason(why)),
            }
        }
    }
    Ok(transition.target())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;
    use Transition::*;

    #[test]
    fn the_legal_transitions_and_nothing_else() {
        let legal = [
            (Sent, Accept, Accepted),
            (Sent, Decline, Declined),
            (Sent, Cancel, Cancelled),
            (Accepted, Complete, Completed),
            (Accepted, Cancel, Cancelled),
        ];
        for &from in ReferralStatus::ALL {
            for &transition in Transition::ALL {
                let reason = (transition == Decline).then_some("no bed free");
                let got = next_status(from, transition, transition.party(), false, reason);
                match legal
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == transition)
                {
                    Some((_, _, to)) => assert_eq!(got, Ok(*to), "{from} {transition}"),
                    None => assert_eq!(
                        got,
                        Err(TransitionError::IllegalTransition { from, transition }),
                        "{from} {transition}"
                    ),
                }
            }
        }
    }

    #[test]
    fn only_the_receiver_answers_and_only_the_sender_cancels() {
        for transition in [Accept, Decline, Complete] {
            assert_eq!(
                next_status(Sent, transition, Party::Sender, false, Some("x")),
                Err(TransitionError::WrongParty {
                    transition,
                    allowed: Party::Receiver
                })
            );
        }
        assert_eq!(
            next_status(Sent, Cancel, Party::Receiver, false, None),
            Err(TransitionError::WrongParty {
                transition: Cancel,
                allowed: Party::Sender
            })
        );
    }

    #[test]
    fn a_decline_needs_a_reason_and_reasons_are_bounded() {
        assert_eq!(
            next_status(Sent, Decline, Party::Receiver, false, None),
            Err(TransitionError::DeclineNeedsReason)
        );
        assert_eq!(
            next_status(Sent, Decline, Party::Receiver, false, Some("  ")),
            Err(TransitionError::DeclineNeedsReason)
        );
        let long = "x".repeat(MAX_TRANSITION_REASON_CHARS + 1);
        assert!(matches!(
            next_status(Sent, Cancel, Party::Sender, false, Some(&long)),
            Err(TransitionError::InvalidReason(Reason::TooLong { .. }))
        ));
        assert_eq!(
            next_status(Sent, Cancel, Party::Sender, false, Some("duplicate")),
            Ok(Cancelled)
        );
    }

    #[test]
    fn an_accepted_transfer_cannot_be_cancelled() {
        assert_eq!(
            next_status(Accepted, Cancel, Party::Sender, true, None),
            Err(TransitionError::TransferAccepted)
        );
        assert_eq!(
            next_status(Sent, Cancel, Party::Sender, true, None),
            Ok(Cancelled)
        );
        assert_eq!(
            next_status(Accepted, Complete, Party::Receiver, true, None),
            Ok(Completed)
        );
    }

    #[test]
    fn parties_are_found_by_agency() {
        let a = AgencyCode::parse("iom_uga").unwrap();
        let b = AgencyCode::parse("iom_eth").unwrap();
        let c = AgencyCode::parse("ngo_c").unwrap();
        assert_eq!(Party::of(&a, &a, &b), Some(Party::Sender));
        assert_eq!(Party::of(&b, &a, &b), Some(Party::Receiver));
        assert_eq!(Party::of(&c, &a, &b), None);
        assert!(Sent.is_active() && Accepted.is_active() && !Declined.is_active());
    }
}
