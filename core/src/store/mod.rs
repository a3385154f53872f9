//! The encrypted local store: one SQLite file per enrolled user on a phone.
//!
//! What it guarantees:
//! - Everything a caseworker records is sealed with XChaCha20-Poly1305 under a random data key
//!   before it reaches SQLite; only ids, kinds, timestamps, case status and owner agency are in
//!   the clear. Each sealed value is bound to its table and row, so a value copied onto another
//!   row fails to open.
//! - The data key is wrapped by a key derived from the passphrase with Argon2id (optionally
//!   mixed with a secret from the platform keystore). Changing the passphrase re-wraps the key
//!   only. Locking drops (and zeroizes) every key.
//! - Every change is one operation in the outbox, written in the same transaction as its
//!   effect. A save that returned `Ok` survives the app being killed.
//! - Names, phones and document numbers are searchable through keyed blind-index tokens;
//!   searches and lists answer with small sealed case summaries (`summary.rs`), not whole cases.
//! - Referral transitions are queued as commands and shown pending until the server answers;
//!   a case transferred away can still be read but no longer changed (`referrals.rs`).
//!
//! What it does not do: talk to a network (see `sync`), or decide what a server may accept.
//! A `Store` is not `Sync`; callers sharing one across threads wrap it in a mutex.

mod attachment_list;
mod attachments;
mod cases;
mod codec;
mod conflicts;
mod connection;
mod error;
mod forms;
pub mod guard;
mod handoff;
pub mod import;
mod lifecycle;
pub mod migrations;
mod name_pairs;
mod ownership;
mod pending_index;
mod purge;
mod records;
mod referrals;
mod review;
mod search;
pub mod spreadsheet;
mod summary;
mod sync_state;
mod unlock;

pub use attachment_list::{AttachmentEntry, AttachmentSyncState};
pub use attachments::{AttachmentMeta, NewAttachment};
pub use cases::{CaseRecord, ChildRecord};
pub use conflicts::{ConflictEntry, Resolution};
pub use connection::Durability;
pub use error::{Result, StoreError};
pub use forms::{
    form_record_fields, form_record_id, legacy_form_record_id, FormSummary, FORM_DEFINITION_FIELD,
    FORM_ID_FIELD, FORM_VERSION_FIELD,
};
pub use guard::{SystemClock, UnlockClock};
pub use handoff::{HandoffImport, HandoffRefusal, HandoffReport};
pub use lifecycle::{Identity, OpenOptions};
pub use referrals::{
    NewReferral, PendingTransition, ReferralView, TimelineEntry, TransitionRejection,
};
pub use review::{ReviewFlag, ReviewReason};
pub use search::{
    MatchKind, SearchHit, SearchQuery, MAX_PREFIX_CHARS, MAX_SEARCH_RESULTS, MIN_PREFIX_CHARS,
};
pub use spreadsheet::{
    SpreadsheetError, SpreadsheetImportOptions, SpreadsheetProgress, SpreadsheetReport,
};
pub use summary::CaseSummary;
pub use sync_state::{ApplyReport, StoreStatus, SyncProgress};
pub use unlock::{GuardStatus, UnlockReport};

use crate::crypto::StoreKeys;
use crate::hlc::Clock;
use rusqlite::Connection;
use std::path::PathBuf;

/// An open store. Locked stores keep the connection but hold no key.
pub struct Store {
    path: PathBuf,
    conn: Connection,
    store_id: [u8; 16],
    identity: Identity,
    keys: Option<StoreKeys>,
    /// Keys held for a lease renewal only: guard upkeep and the server record, nothing else.
    lease_renewal: Option<StoreKeys>,
    clock: Clock,
    last_seq: u64,
    /// Set once the store has been wiped; every call then fails with `Wiped`.
    wiped: bool,
    /// The clock the unlock guard reads (delays, lease); injected in tests.
    unlock_clock: std::sync::Arc<dyn UnlockClock>,
    unlock_report: UnlockReport,
    /// Set between [`Store::begin_sync_writes`] and [`Store::end_sync_writes`]: pulled cases
    /// new to the store are indexed when the sync ends (`pending_index`).
    sync_writes: bool,
    /// Makes the tokens of the cases a running sync brings in (`pending_index`).
    token_worker: Option<pending_index::TokenWorker>,
    /// The checkpoint a sync leaves running when it ends.
    background_checkpoint: connection::BackgroundCheckpoint,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("device", &self.identity.device)
            .field("agency", &self.identity.agency)
            .field("locked", &self.keys.is_none())
            .finish_non_exhaustive()
    }
}
