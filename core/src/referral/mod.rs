//! Referrals and transfers between partner agencies: the pure rules.
//!
//! A caseworker refers a case to a partner agency for services (shelter, medical, legal, return
//! travel…); the receiving agency sees only the fields the person consented to share, and a
//! *transfer* moves ownership of the case to it when it accepts. This module holds the rules
//! both ends apply, with no I/O:
//!
//! - [`status`]: the state machine ([`next_status`]) — who may move a referral, from where;
//! - [`sharing`]: which case fields may reach the receiving agency, given consent;
//! - [`record`]: the referral record a device writes and the status keys the server writes;
//! - [`owner`]: which agency owns a case, as a device derives it from its referrals.
//!
//! The server is the authority for a referral's status: a device sends a transition as a
//! command ([`crate::protocol::ReferralCommand`]) carrying the status it expects, and the
//! server applies it as compare-and-set. The store keeps commands until the server answers.

pub mod owner;
pub mod record;
pub mod sharing;
pub mod status;

pub use owner::{case_owner, ReferralFacts};
pub use record::{HistoryEntry, Referral, ServerState};
pub use sharing::{
    allowed_shared_fields, attachment_visible, check_shared_fields, is_identifying, may_share,
    shareable, shared_copies, SharingError,
};
pub use status::{
    next_status, Party, ReferralStatus, Transition, TransitionError, Urgency,
    MAX_TRANSITION_REASON_CHARS,
};
