//! The store's error type: what went wrong and what to do, never a value from a record.

use crate::crypto::CryptoError;
use crate::ids::RecordId;
use crate::merge::op::RecordKind;
use crate::model::ValidationErrors;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("this store needs the extra secret kept in the platform keystore")]
    MissingExtraSecret,
    #[error("this store has been wiped")]
    Wiped,
    #[error("the store is locked; unlock it with the passphrase first")]
    Locked,
    // Rounded up: whoever waits that long is not refused again.
    #[error(
        "too many failed unlocks: try again in {} seconds",
        retry_after.as_millis().div_ceil(1000).max(1)
    )]
    TooSoon { retry_after: std::time::Duration },
    #[error(
        "this store was erased after too many failed unlocks; its data cannot be recovered. \
         Enroll the device again"
    )]
    Erased,
    #[error(
        "this store has not reached its server for more than {days} days and is locked; \
         connect to the network and sync to open it"
    )]
    LeaseExpired { days: u32 },
    #[error("the device policy sent by the server is out of bounds: {0}")]
    Policy(crate::device_policy::PolicyError),
    #[error("no store exists at this path")]
    NotFound,
    #[error("a store already exists at this path")]
    AlreadyExists,
    #[error("the file is not a fieldcase store, or it is damaged beyond reading")]
    NotAStore,
    #[error("the store file is damaged (database corruption); restore it from a backup or resync")]
    Corrupt,
    #[error(
        "stored data failed its integrity check in {table} ({record}): it was altered or moved"
    )]
    Integrity { table: &'static str, record: String },
    #[error("no {kind} with id {id}")]
    NoSuchRecord { kind: RecordKind, id: RecordId },
    #[error("{kind} records are append-only and cannot be changed")]
    AppendOnly { kind: RecordKind },
    #[error("invalid record: {0}")]
    Invalid(#[from] ValidationErrors),
    #[error("a {kind} must name the case it belongs to")]
    MissingCaseLink { kind: RecordKind },
    #[error("no conflict entry matches that field and version")]
    NoSuchConflict,
    #[error("case {id} belongs to another agency: it can be read here but not changed")]
    NotOwner { id: RecordId },
    #[error("case {id} is neither owned by this agency nor referred to it and accepted")]
    NotReferred { id: RecordId },
    #[error("this referral cannot be made: {0}")]
    Sharing(#[from] crate::referral::SharingError),
    #[error("this transition is not possible: {0}")]
    Transition(#[from] crate::referral::TransitionError),
    #[error("attachment refused: {0}")]
    Attachment(crate::attachments::AttachmentError),
    #[error("no attachment with id {id} on this device")]
    NoSuchAttachment { id: RecordId },
    #[error("key setup failed: {0}")]
    Crypto(CryptoError),
    #[error("the store was written by a newer fieldcase (schema version {found}); update the app")]
    TooNew { found: u32 },
    #[error("the database is busy (another process holds it); try again")]
    Busy,
    #[error("not a valid form definition: {0}")]
    Form(#[from] crate::forms::DefinitionError),
    #[error("form {id} version {version} is already held with a different definition; publish a new version")]
    FormVersionConflict { id: String, version: u32 },
    #[error("database error: {0}")]
    Database(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// A handoff bundle could not be made or read; nothing was imported.
    #[error("{0}")]
    Handoff(#[from] crate::handoff::HandoffError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::NotAStore,
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt,
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy,
            // SQLite's own messages name tables, columns and constraints, never bound values.
            _ => StoreError::Database(error.to_string()),
        }
    }
}

impl From<CryptoError> for StoreError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::WrongPassphrase => StoreError::WrongPassphrase,
            CryptoError::MissingExtraSecret => StoreError::MissingExtraSecret,
            other => StoreError::Crypto(other),
        }
    }
}

impl From<super::migrations::MigrationError> for StoreError {
    fn from(error: super::migrations::MigrationError) -> Self {
        match error {
            super::migrations::MigrationError::TooNew { found } => StoreError::TooNew { found },
            super::migrations::MigrationError::Sqlite(e) => e.into(),
            super::migrations::MigrationError::Rebuild(e) => *e,
        }
    }
}
