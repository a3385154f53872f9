//! fieldcase-ffi: the UniFFI facade the Android (Kotlin) and iOS (Swift) apps call.
//!
//! A thin layer over `fieldcase-core`: it exposes one object per enrolled store
//! ([`FieldcaseStore`]), records and enums for the case model ([`CaseData`] and the code
//! sets), referrals between agencies (`referrals.rs`) and their handoff phone to phone with no network
//! (`handoff.rs`), spreadsheet import with progress and the
//! review list (`import.rs`), attachments with their sync state and reads with progress
//! (`attachments.rs`), one error enum ([`FieldcaseError`], mapped from core's errors in
//! `error.rs` only),
//! and `async` enrollment and sync on a tokio runtime of its own, with progress and remote
//! wipes reported through a callback the app implements ([`SyncObserver`]).
//!
//! What it guarantees: every object may be used from any thread; no lock is held across a
//! network wait; no input from the app can make it panic; nothing it returns in an error, and
//! nothing it logs (it logs nothing), holds personal data. What it does not do: decide
//! anything a Rust caller of core would also need — validation, merge, sync and key handling
//! are core's.
//!
//! Test builds (`--features insecure-test-kdf`) add `enroll_with_insecure_fast_kdf` and
//! `create_unenrolled_store_for_tests`; a shipped library has neither. See `docs/mobile.md`.

uniffi::setup_scaffolding!();

/// `Debug` for a record that holds personal data: the type name only. Exported too, so the
/// generated Kotlin `toString()` and Swift `debugDescription` show no more than this; a
/// developer logging a case logs nothing of it.
macro_rules! redacted_debug {
    ($($name:ident),+) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), " { .. }"))
            }
        }
    )+};
}

mod attachments;
mod case;
mod codes;
mod error;
mod forms;
mod guard;
mod handoff;
mod import;
mod records;
mod referrals;
mod runtime;
mod store;
mod sync;

pub use attachments::{AttachmentInfo, AttachmentObserver, AttachmentSyncState, MAX_READ_BYTES};
pub use case::{AssistanceConsent, CaseData, CaseRecord, DataSharingConsent, IdentityDocument};
pub use codes::CaseStatus;
pub use error::{FieldProblem, FieldcaseError};
pub use forms::FormInfo;
pub use guard::{DevicePolicy, UnlockReport, UnlockStatus};
pub use handoff::{
    handoff_qr_chunks, ChunkProgress, HandoffAssembler, HandoffBundle, HandoffImport,
};
pub use import::{
    ImportColumn, ImportObserver, ImportProblem, ImportProgress, ImportReport, ImportSettings,
    ReviewItem, TextEncoding,
};
pub use records::{
    CaseSearchResult, CaseSummary, Conflict, DeviceIdentity, NoteRecord, SearchMatch, SearchQuery,
    ServiceData, ServiceRecord, StoreStatus,
};
pub use referrals::{
    is_identifying_field, NewReferral, Party, PendingTransition, ReferralRecord, ReferralStatus,
    ReferralTimelineEntry, RejectionCode, Transition, TransitionRejection, Urgency,
};
pub use runtime::{MAX_BLOCKING_THREADS, WORKER_THREADS};
pub use store::{open_store, wipe_store_file, FieldcaseStore, MAX_LIST_LIMIT};
pub use sync::{enroll, SyncObserver, SyncOutcome, SyncProgress};

#[cfg(feature = "insecure-test-kdf")]
pub use store::create_unenrolled_store_for_tests;
#[cfg(feature = "insecure-test-kdf")]
pub use sync::enroll_with_insecure_fast_kdf;

/// Core's code sets, as the facade exposes them.
pub use fieldcase_core::model::{
    Category, ClosureReason, DocumentType, ExploitationType, LabourSector, Programme,
    ReintegrationAssistance, RiskLevel, ServiceType, Sex, TraffickingType,
};
pub use fieldcase_core::store::Resolution;
pub use fieldcase_core::RecordKind;
