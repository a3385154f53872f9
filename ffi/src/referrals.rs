//! Referrals for the apps: refer a case to a partner agency, answer a referral, follow it.
//!
//! A thin layer over core's referral store (`fieldcase_core::store::referrals`) and rules
//! (`fieldcase_core::referral`). A referral is made once by the sending agency and goes out
//! with the next sync; its status is the server's. A transition (accept, decline, cancel,
//! complete) is checked here with the same rule the server applies — so an impossible one
//! fails at once, as `NotAllowed` or `Invalid`, and changes nothing — then queued and shown as
//! pending until a sync brings the server's answer. A refusal by the server (someone else
//! moved the referral first) is kept on the referral as [`TransitionRejection`], with a
//! plain-language explanation, until the next transition.
//!
//! Which fields may be shared is the case's consent's decision, not the app's:
//! [`FieldcaseStore::allowed_shared_fields`] lists them for a consent-bounded picker, and
//! `create_referral` refuses any other, naming the field key (never a value).
//!
//! `Debug` of the records that carry a caseworker's free text (reasons) shows nothing of it.

use crate::codes::ServiceType;
use crate::error::Result;
use crate::store::{record_id, FieldcaseStore};
use fieldcase_core::model::{Reason, ValidationError, ValidationErrors};
use fieldcase_core::protocol::CommandRejection;
use fieldcase_core::referral::{allowed_shared_fields, is_identifying};
use fieldcase_core::store::{
    NewReferral as CoreNewReferral, ReferralView, TimelineEntry,
    TransitionRejection as CoreRejection,
};
use fieldcase_core::{AgencyCode, RecordId};

pub use fieldcase_core::referral::{Party, ReferralStatus, Transition, Urgency};

/// Where a referral stands, as the server last decided.
#[uniffi::remote(Enum)]
pub enum ReferralStatus {
    /// Made, and not yet answered by the receiving agency.
    Sent,
    Accepted,
    Declined,
    Cancelled,
    Completed,
}

/// What a party asks to do with a referral.
#[uniffi::remote(Enum)]
pub enum Transition {
    /// The receiving agency takes the referral (a transfer moves the case to it).
    Accept,
    /// The receiving agency refuses it, with a reason.
    Decline,
    /// The sending agency withdraws it (not once a transfer is accepted).
    Cancel,
    /// The receiving agency has given what was asked.
    Complete,
}

/// How urgently the receiving agency should answer.
#[uniffi::remote(Enum)]
pub enum Urgency {
    Low,
    Medium,
    High,
    Emergency,
}

/// Which side of a referral this device's agency is on.
#[uniffi::remote(Enum)]
pub enum Party {
    /// It made the referral: it may cancel.
    Sender,
    /// The referral is addressed to it: it may accept, decline and complete.
    Receiver,
}

/// A referral to make: which case, to whom, for what, sharing which fields.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct NewReferral {
    /// A case this device's agency owns.
    pub case_id: String,
    /// The receiving agency's code, e.g. `"iom_eth"`.
    pub to_agency: String,
    /// What the person needs from the receiving agency; at least one.
    pub services: Vec<ServiceType>,
    /// Why, in the caseworker's words (at most 4,000 characters).
    pub reason: String,
    pub urgency: Urgency,
    /// Keys of the case the receiving agency may see, from `allowed_shared_fields`.
    pub shared_fields: Vec<String>,
    /// Ownership of the case moves to the receiving agency when it accepts.
    #[uniffi(default = false)]
    pub transfer: bool,
    /// The sending agency sees the services and notes the receiving agency adds.
    #[uniffi(default = false)]
    pub share_back: bool,
}

/// A transition asked for on this device and not yet answered by the server.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PendingTransition {
    pub transition: Transition,
    pub reason: Option<String>,
    /// When it was asked for (ms since the Unix epoch).
    pub queued_ms: i64,
}

/// Why the server refused a transition, as a code an app can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum RejectionCode {
    /// The server knows no such referral for this agency.
    UnknownReferral,
    /// This agency is not the party that may make the transition.
    WrongAgency,
    /// The referral's status does not allow the transition.
    IllegalTransition,
    /// Someone else moved the referral first; see its current status.
    StatusChanged,
    /// A decline without a reason.
    ReasonRequired,
    /// The reason is too long or holds control characters.
    InvalidReason,
    /// A code this version of the library does not know; `explanation` still says why.
    /// Every code core knows has its own variant (the mapping is exhaustive, so the compiler
    /// asks for one when core adds a code); this stays so apps that handle it keep compiling.
    Other,
}

/// The server's last refusal of a transition asked for on this device.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TransitionRejection {
    pub transition: Transition,
    pub code: RejectionCode,
    /// The referral's status when the server refused, when known.
    pub current_status: Option<ReferralStatus>,
    /// When the refusal arrived (ms since the Unix epoch).
    pub at_ms: i64,
    /// Why, in plain English, with the status as it stands; no personal data.
    pub explanation: String,
}

/// A referral as an app shows it, sent or received.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ReferralRecord {
    pub id: String,
    pub case_id: String,
    pub from_agency: String,
    pub to_agency: String,
    /// This device's side of it; `None` only for a referral between two other agencies,
    /// which a device is never sent.
    pub party: Option<Party>,
    pub services: Vec<ServiceType>,
    pub reason: String,
    pub urgency: Urgency,
    /// The keys of the case the receiving agency may see. The server delivers only those the
    /// case's consent allows when it delivers them.
    pub shared_fields: Vec<String>,
    pub transfer: bool,
    pub share_back: bool,
    /// The user id of the caseworker who made it.
    pub created_by: String,
    /// `YYYY-MM-DD`.
    pub created_on: String,
    /// When it was written on the sending device (ms since the Unix epoch).
    pub created_ms: i64,
    /// The status the server last decided; `Sent` until the server has seen it.
    pub status: ReferralStatus,
    /// Whether the server has seen the referral.
    pub confirmed: bool,
    /// The reason given with the last transition (a decline's why).
    pub status_reason: Option<String>,
    /// When the server last moved it (ms since the Unix epoch), once it has.
    pub status_changed_ms: Option<i64>,
    /// Transitions waiting for the server, oldest first (usually none or one).
    pub pending: Vec<PendingTransition>,
    /// The status once the pending transitions are applied (`status` when none are).
    pub expected_status: ReferralStatus,
    /// The server's last refusal, until another transition is asked for or applied.
    pub last_rejection: Option<TransitionRejection>,
}

/// One line of a referral's timeline: who did what, when.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ReferralTimelineEntry {
    pub referral_id: String,
    /// Ms since the Unix epoch: the server's time once confirmed, this device's before.
    pub at_ms: i64,
    pub agency: String,
    /// The staff user id, when known.
    pub user_id: Option<String>,
    /// The transition; `None` for the creation.
    pub transition: Option<Transition>,
    /// The status reached (or to be reached, while pending).
    pub status: ReferralStatus,
    pub reason: Option<String>,
    /// `false` while the server has not confirmed it.
    pub confirmed: bool,
}

redacted_debug!(
    NewReferral,
    PendingTransition,
    ReferralRecord,
    ReferralTimelineEntry
);

/// Whether a case field identifies the person (names, date of birth and age, phone,
/// documents, photo, the guardian, form answers): such a field may be shared only with an
/// agency the case's `consent.data_sharing` names. For labelling a field picker.
#[uniffi::export]
pub fn is_identifying_field(key: String) -> bool {
    is_identifying(&key)
}

fn agency_code(field: &str, code: &str) -> Result<AgencyCode> {
    AgencyCode::parse(code).map_err(|_| {
        ValidationErrors(vec![ValidationError::new(field, Reason::InvalidAgencyCode)]).into()
    })
}

impl NewReferral {
    fn to_core(&self) -> Result<CoreNewReferral> {
        Ok(CoreNewReferral {
            case_id: record_id("case_id", &self.case_id)?,
            to_agency: agency_code("to_agency", &self.to_agency)?,
            services: self.services.iter().copied().collect(),
            reason: self.reason.clone(),
            urgency: self.urgency,
            shared_fields: self.shared_fields.iter().cloned().collect(),
            transfer: self.transfer,
            share_back: self.share_back,
        })
    }
}

impl From<CommandRejection> for RejectionCode {
    fn from(code: CommandRejection) -> Self {
        match code {
            CommandRejection::UnknownReferral => RejectionCode::UnknownReferral,
            CommandRejection::WrongAgency => RejectionCode::WrongAgency,
            CommandRejection::IllegalTransition => RejectionCode::IllegalTransition,
            CommandRejection::StatusChanged => RejectionCode::StatusChanged,
            CommandRejection::ReasonRequired => RejectionCode::ReasonRequired,
            CommandRejection::InvalidReason => RejectionCode::InvalidReason,
        }
    }
}

impl From<CoreRejection> for TransitionRejection {
    fn from(rejection: CoreRejection) -> Self {
        TransitionRejection {
            explanation: rejection.explain(),
            transition: rejection.transition,
            code: rejection.code.into(),
            current_status: rejection.current_status,
            at_ms: rejection.at_ms,
        }
    }
}

impl ReferralRecord {
    fn from_core(view: ReferralView, agency: &AgencyCode) -> ReferralRecord {
        let party = view.party(agency);
        let expected_status = view.expected_status();
        let referral = view.referral;
        ReferralRecord {
            id: view.id.to_string(),
            case_id: referral.case_id.to_string(),
            from_agency: referral.from_agency.as_str().to_owned(),
            to_agency: referral.to_agency.as_str().to_owned(),
            party,
            services: referral.services.into_iter().collect(),
            reason: referral.reason,
            urgency: referral.urgency,
            shared_fields: referral.shared_fields.into_iter().collect(),
            transfer: referral.transfer,
            share_back: referral.share_back,
            created_by: referral.created_by,
            created_on: referral.created_on.to_string(),
            created_ms: view.created_ms,
            status: view.status,
            confirmed: view.confirmed,
            status_reason: view.status_reason,
            status_changed_ms: view
                .history
                .last()
                .map(|h| i64::try_from(h.at_ms).unwrap_or(i64::MAX)),
            pending: view
                .pending
                .into_iter()
                .map(|p| PendingTransition {
                    transition: p.transition,
                    reason: p.reason,
                    queued_ms: p.queued_ms,
                })
                .collect(),
            expected_status,
            last_rejection: view.last_rejection.map(TransitionRejection::from),
        }
    }
}

impl ReferralTimelineEntry {
    fn from_core(referral_id: RecordId, entry: TimelineEntry) -> ReferralTimelineEntry {
        ReferralTimelineEntry {
            referral_id: referral_id.to_string(),
            at_ms: entry.at_ms,
            agency: entry.agency.as_str().to_owned(),
            user_id: entry.user,
            transition: entry.transition,
            status: entry.status,
            reason: entry.reason,
            confirmed: entry.confirmed,
        }
    }
}

#[uniffi::export]
impl FieldcaseStore {
    // ---- Referrals ----

    /// The keys of a case that may be shared with `to_agency`, sorted: the non-identifying
    /// core variables always, the identifying ones and the case's form answers only when the
    /// case's consent names that agency. Offer exactly these in the referral's field picker.
    pub fn allowed_shared_fields(&self, case_id: String, to_agency: String) -> Result<Vec<String>> {
        let id = record_id("case_id", &case_id)?;
        let agency = agency_code("to_agency", &to_agency)?;
        let case = self.store().get_case(&id)?;
        Ok(allowed_shared_fields(&case.fields, &agency)
            .into_iter()
            .collect())
    }

    /// Refers a case this agency owns to another agency; returns the referral's id. It goes
    /// out with the next sync. Fails with `Invalid` (naming every bad field, or the shared
    /// field consent does not allow), `NotAllowed` (the case belongs to another agency) or
    /// `NotFound` (no such case).
    pub fn create_referral(&self, referral: NewReferral) -> Result<String> {
        let new = referral.to_core()?;
        Ok(self.store().create_referral(&new)?.to_string())
    }

    pub fn get_referral(&self, id: String) -> Result<ReferralRecord> {
        let id = record_id("id", &id)?;
        let store = self.store();
        let view = store.get_referral(&id)?;
        Ok(ReferralRecord::from_core(view, &store.identity().agency))
    }

    /// Every referral this device holds, sent and received, oldest first.
    pub fn list_referrals(&self) -> Result<Vec<ReferralRecord>> {
        let store = self.store();
        let agency = &store.identity().agency;
        Ok(store
            .list_referrals()?
            .into_iter()
            .map(|view| ReferralRecord::from_core(view, agency))
            .collect())
    }

    /// The referrals of one case, oldest first.
    pub fn referrals_of_case(&self, case_id: String) -> Result<Vec<ReferralRecord>> {
        let id = record_id("case_id", &case_id)?;
        let store = self.store();
        let agency = &store.identity().agency;
        Ok(store
            .referrals_of_case(&id)?
            .into_iter()
            .map(|view| ReferralRecord::from_core(view, agency))
            .collect())
    }

    /// Accepts a referral made to this agency (`reason` is an optional note). Queued for the
    /// next sync; returns the referral with the transition pending.
    pub fn accept_referral(&self, id: String, reason: Option<String>) -> Result<ReferralRecord> {
        self.transition(id, Transition::Accept, reason)
    }

    /// Declines a referral made to this agency; the reason is required and goes to the
    /// sending agency.
    pub fn decline_referral(&self, id: String, reason: String) -> Result<ReferralRecord> {
        self.transition(id, Transition::Decline, Some(reason))
    }

    /// Withdraws a referral this agency made (not an accepted transfer).
    pub fn cancel_referral(&self, id: String, reason: Option<String>) -> Result<ReferralRecord> {
        self.transition(id, Transition::Cancel, reason)
    }

    /// Marks an accepted referral made to this agency as completed.
    pub fn complete_referral(&self, id: String, reason: Option<String>) -> Result<ReferralRecord> {
        self.transition(id, Transition::Complete, reason)
    }

    /// Who did what, when: the server's history, then what is still pending here.
    pub fn referral_timeline(&self, id: String) -> Result<Vec<ReferralTimelineEntry>> {
        let id = record_id("id", &id)?;
        let entries = self.store().referral_timeline(&id)?;
        Ok(entries
            .into_iter()
            .map(|entry| ReferralTimelineEntry::from_core(id, entry))
            .collect())
    }

    /// Every timeline entry of every referral of a case, oldest first.
    pub fn case_referral_timeline(&self, case_id: String) -> Result<Vec<ReferralTimelineEntry>> {
        let id = record_id("case_id", &case_id)?;
        let entries = self.store().case_referral_timeline(&id)?;
        Ok(entries
            .into_iter()
            .map(|(referral, entry)| ReferralTimelineEntry::from_core(referral, entry))
            .collect())
    }
}

impl FieldcaseStore {
    /// Checks and queues one transition, then reads the referral back with it pending. An
    /// impossible transition fails before anything is written.
    fn transition(
        &self,
        id: String,
        transition: Transition,
        reason: Option<String>,
    ) -> Result<ReferralRecord> {
        let id = record_id("id", &id)?;
        let mut store = self.store();
        store.request_transition(&id, transition, reason.as_deref())?;
        let view = store.get_referral(&id)?;
        Ok(ReferralRecord::from_core(view, &store.identity().agency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldcaseError;

    #[test]
    fn every_rejection_code_keeps_its_meaning() {
        let pairs = [
            (
                CommandRejection::UnknownReferral,
                RejectionCode::UnknownReferral,
            ),
            (CommandRejection::WrongAgency, RejectionCode::WrongAgency),
            (
                CommandRejection::IllegalTransition,
                RejectionCode::IllegalTransition,
            ),
            (
                CommandRejection::StatusChanged,
                RejectionCode::StatusChanged,
            ),
            (
                CommandRejection::ReasonRequired,
                RejectionCode::ReasonRequired,
            ),
            (
                CommandRejection::InvalidReason,
                RejectionCode::InvalidReason,
            ),
        ];
        for (core, facade) in pairs {
            assert_eq!(RejectionCode::from(core), facade);
        }
    }

    #[test]
    fn a_rejection_carries_its_explanation() {
        let rejection: TransitionRejection = CoreRejection {
            transition: Transition::Complete,
            code: CommandRejection::StatusChanged,
            current_status: Some(ReferralStatus::Cancelled),
            at_ms: 5,
        }
        .into();
        assert_eq!(rejection.code, RejectionCode::StatusChanged);
        assert!(
            rejection
                .explanation
                .contains("someone else changed the referral first")
                && rejection.explanation.contains("cancelled"),
            "{}",
            rejection.explanation
        );
    }

    #[test]
    fn a_bad_agency_code_names_the_field() {
        let FieldcaseError::Invalid { problems, .. } =
            agency_code("to_agency", "Not An Agency").expect_err("refused")
        else {
            panic!("not Invalid");
        };
        assert_eq!(problems[0].field, "to_agency");
        assert!(!problems[0].reason.contains("Not An Agency"));
    }
}
