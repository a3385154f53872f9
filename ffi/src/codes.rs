//! Core's closed code sets, exposed as Kotlin and Swift enums.
//!
//! These are mirrors of core's own enums (`#[uniffi::remote]`), not copies: the generated
//! conversion matches every variant, so a code core adds or removes fails to compile here
//! until this file follows. An app can therefore never send an unknown code; countries, which
//! are 250 codes, stay ISO 3166-1 alpha-3 strings that core validates.

pub use fieldcase_core::merge::op::RecordKind;
pub use fieldcase_core::model::{
    Category, ClosureReason, DocumentType, ExploitationType, LabourSector, Programme,
    ReintegrationAssistance, RiskLevel, ServiceType, Sex, TraffickingType,
};
pub use fieldcase_core::store::Resolution;

/// A case's status; a case with no status is open.
pub type CaseStatus = fieldcase_core::model::Status;

/// `sex`.
#[uniffi::remote(Enum)]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// `categories`: a person may be in several and is still counted once.
#[uniffi::remote(Enum)]
pub enum Category {
    VictimOfTrafficking,
    UnaccompaniedMigrantChild,
    StrandedMigrant,
    /// A significant medical condition.
    HealthNeeds,
    RejectedAsylumSeeker,
    ExploitedOrAbusedMigrant,
    OtherVulnerable,
}

/// `programme`.
#[uniffi::remote(Enum)]
pub enum Programme {
    /// Assisted voluntary return and reintegration.
    Avrr,
    /// Post-arrival reintegration assistance.
    Para,
    /// Counter-trafficking / vulnerable migrants.
    DirectAssistance,
    /// Emergency fund.
    Gaf,
    Other,
}

/// `exploitation_types`: only with the victim-of-trafficking category.
#[uniffi::remote(Enum)]
pub enum ExploitationType {
    Sexual,
    Labour,
    ForcedBegging,
    DomesticServitude,
    ForcedMarriage,
    OrganRemoval,
    ForcedCriminality,
    Other,
}

/// `labour_sectors`: only with the victim-of-trafficking category.
#[uniffi::remote(Enum)]
pub enum LabourSector {
    Agriculture,
    Construction,
    DomesticWork,
    Fishing,
    Manufacturing,
    Mining,
    Hospitality,
    Begging,
    Other,
}

/// `trafficking_type`: only with the victim-of-trafficking category.
#[uniffi::remote(Enum)]
pub enum TraffickingType {
    Internal,
    International,
}

/// `reintegration_assistance`.
#[uniffi::remote(Enum)]
pub enum ReintegrationAssistance {
    CashAllowance,
    Education,
    VocationalTraining,
    BusinessSupport,
    JobPlacement,
    Medical,
    Psychosocial,
    Housing,
    Legal,
    FamilyTracing,
    Other,
}

/// `status`.
#[uniffi::remote(Enum)]
pub enum CaseStatus {
    Open,
    Active,
    Closed,
}

/// `closure_reason`: present exactly when the status is closed.
#[uniffi::remote(Enum)]
pub enum ClosureReason {
    AssistanceCompleted,
    Transferred,
    LostContact,
    DeclinedAssistance,
    Deceased,
    Other,
}

/// `risk_level`: drives follow-up priority.
#[uniffi::remote(Enum)]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

/// The type of an identity document.
#[uniffi::remote(Enum)]
pub enum DocumentType {
    Passport,
    NationalId,
    TravelDocument,
    Other,
}

/// The type of a service given.
#[uniffi::remote(Enum)]
pub enum ServiceType {
    Shelter,
    Medical,
    Psychosocial,
    Legal,
    ReturnTravel,
    FamilyTracing,
    Education,
    VocationalTraining,
    MicroBusiness,
    CashAssistance,
    Other,
}

/// The kinds of record the engine stores and syncs.
#[uniffi::remote(Enum)]
pub enum RecordKind {
    Case,
    /// A service given; append-only.
    Service,
    /// A narrative note; append-only.
    Note,
    Referral,
    Form,
    /// What the log says of an attachment (`list_attachments` shows it).
    Attachment,
}

/// What a supervisor decides about a conflict.
#[uniffi::remote(Enum)]
pub enum Resolution {
    /// Put the losing value back.
    Restore,
    /// Keep the current value and drop the entry.
    Dismiss,
}
