//! The one error type the apps see, and the one place core's errors are mapped to it.
//!
//! Variants are stable (apps switch on them: Kotlin `FieldcaseException.Locked`, Swift
//! `FieldcaseError.Locked`); each carries `reason`, a plain-language English sentence that
//! says what is wrong and what to do, suitable as a fallback message or for a support log.
//! Neither a reason nor any other field ever holds personal data: reasons are built from
//! core's messages, which are built from static text, field keys, codes, bounds and record
//! ids, never from a value a caseworker typed. Validation problems name the field and why,
//! never the value.
//!
//! Referrals add `NotAllowed` (wrong agency or status for what was asked); a shared field the
//! case's consent does not allow is `Invalid`, with the problem on `shared_fields` naming the
//! key.
//!
//! Which failures are worth retrying without anyone doing anything: `Network`, `Server` and
//! `Busy`. Everything else needs a person (a passphrase, a new enrollment code, an update)
//! or is final.

use fieldcase_core::attachments::AttachmentError;
use fieldcase_core::crypto::CryptoError;
use fieldcase_core::model::{ValidationError, ValidationErrors};
use fieldcase_core::protocol::ErrorCode;
use fieldcase_core::referral::TransitionError;
use fieldcase_core::spreadsheet::{MappingError, ReadError};
use fieldcase_core::store::{SpreadsheetError, StoreError};
use fieldcase_core::sync::SyncError;

/// One invalid field: its key (with a path into the value when the fault is inside it, as in
/// `document_numbers[0].issuing_country`) and why, in plain language.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

/// Everything a call into fieldcase can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum FieldcaseError {
    /// The passphrase (or the extra secret) does not open this store. Nothing was changed.
    #[error("{reason}")]
    WrongPassphrase { reason: String },
    /// The store was created with an extra secret from the platform keystore, and none was
    /// given.
    #[error("{reason}")]
    MissingExtraSecret { reason: String },
    /// The store is locked: unlock it with the passphrase first.
    #[error("{reason}")]
    Locked { reason: String },
    /// The store has been wiped (by the app, or because the agency revoked this device).
    #[error("{reason}")]
    Wiped { reason: String },
    /// Too many failed unlocks: the next attempt is taken after `retry_after_secs`. Nothing
    /// was tried (the passphrase given, right or wrong, was not checked).
    #[error("{reason}")]
    TooSoon {
        reason: String,
        retry_after_secs: u64,
    },
    /// The store erased itself after the agency's limit of failed unlocks: its data cannot
    /// be recovered, whatever the passphrase. Enroll the device again.
    #[error("{reason}")]
    Erased { reason: String },
    /// The store has not reached its server for more than `days` days and is locked. Open it
    /// for a lease renewal (`open_store_for_lease_renewal`) and sync on a network.
    #[error("{reason}")]
    LeaseExpired { reason: String, days: u32 },
    /// The server found this store copied back from an older file, or its unlock record
    /// edited, and no longer accepts it. Nothing on the device is deleted; enroll again.
    #[error("{reason}")]
    StoreUntrusted { reason: String },
    /// Input that breaks the case model. `problems` lists every invalid field at once.
    #[error("{reason}")]
    Invalid {
        reason: String,
        problems: Vec<FieldProblem>,
    },
    /// This agency may not do that: the case belongs to another agency, or the referral's
    /// side or status does not allow the transition (only the receiving agency accepts,
    /// declines and completes; only the sending agency cancels). Nothing was changed.
    #[error("{reason}")]
    NotAllowed { reason: String },
    /// No store at that path, or no record with that id.
    #[error("{reason}")]
    NotFound { reason: String },
    /// A store already exists at that path.
    #[error("{reason}")]
    AlreadyExists { reason: String },
    /// Stored data failed its integrity check: it was altered, damaged or moved.
    #[error("{reason}")]
    Integrity { reason: String },
    /// The database or file system failed (damaged file, disk full, written by a newer app).
    #[error("{reason}")]
    Storage { reason: String },
    /// Another process holds the database; try again in a moment.
    #[error("{reason}")]
    Busy { reason: String },
    /// The server could not be reached (no network, timeout). Retry later.
    #[error("{reason}")]
    Network { reason: String },
    /// The server had trouble, was busy, or sent a reply that could not be read. Retry later.
    #[error("{reason}")]
    Server { reason: String },
    /// The server refused the request for a reason a person must fix (the message says
    /// which), or it has lost changes this device sent earlier (restored from an older
    /// backup) and an administrator must sort it out. Retrying does not help.
    #[error("{reason}")]
    Refused { reason: String },
    /// The server refused the enrollment code or the device credential: enroll again.
    #[error("{reason}")]
    Unauthorized { reason: String },
    /// An administrator revoked this device; its store has been wiped.
    #[error("{reason}")]
    Revoked { reason: String },
    /// This store is not enrolled with a server, so it cannot sync.
    #[error("{reason}")]
    NotEnrolled { reason: String },
    /// The sync was cancelled. What it had applied is kept; the rest comes next time.
    #[error("{reason}")]
    Cancelled { reason: String },
    /// A sync of this store is already running.
    #[error("{reason}")]
    SyncInProgress { reason: String },
    /// A fault inside fieldcase or the app's callback; report it.
    #[error("{reason}")]
    Internal { reason: String },
    /// A handoff bundle could not be made or read (expired, meant for another agency,
    /// altered, signed by an unknown or revoked device, already read…); nothing was imported.
    /// `code` is stable (`expired`, `wrong_agency`, `tampered`, `bad_signature`, `replayed`,
    /// `revoked_device`, `unknown_device`, `no_keys`, …) for the app to choose its words.
    #[error("{reason}")]
    Handoff { code: String, reason: String },
}

pub type Result<T, E = FieldcaseError> = std::result::Result<T, E>;

#[uniffi::export]
impl FieldcaseError {
    /// Worth retrying later without anyone doing anything (`Network`, `Server`, `Busy`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FieldcaseError::Network { .. }
                | FieldcaseError::Server { .. }
                | FieldcaseError::Busy { .. }
        )
    }
}

fn reason(text: impl Into<String>) -> String {
    text.into()
}

impl FieldcaseError {
    pub(crate) fn cancelled() -> Self {
        FieldcaseError::Cancelled {
            reason: reason("sync cancelled; what was already applied is kept"),
        }
    }

    pub(crate) fn sync_in_progress() -> Self {
        FieldcaseError::SyncInProgress {
            reason: reason("a sync of this store is already running; wait for it or cancel it"),
        }
    }

    /// A file the app named could not be opened. The path is not repeated: file names can
    /// name the person.
    pub(crate) fn unreadable_file(error: &std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::NotFound => FieldcaseError::NotFound {
                reason: reason("there is no file at that path"),
            },
            std::io::ErrorKind::PermissionDenied => FieldcaseError::Storage {
                reason: reason("the app may not read the file at that path"),
            },
            _ => FieldcaseError::Storage {
                reason: reason("the file at that path could not be read"),
            },
        }
    }

    pub(crate) fn internal(what: &'static str) -> Self {
        FieldcaseError::Internal {
            reason: reason(what),
        }
    }

    /// One invalid field, found by the facade itself before core saw the input.
    pub(crate) fn invalid_field(field: &str, why: &'static str) -> Self {
        ValidationErrors(vec![ValidationError::new(
            field,
            fieldcase_core::model::Reason::WrongType { expected: why },
        )])
        .into()
    }

    /// A failed enrollment: a refused code reads differently from a refused credential.
    pub(crate) fn from_enrollment(error: SyncError) -> Self {
        match error {
            SyncError::Unauthorized => FieldcaseError::Unauthorized {
                reason: reason(
                    "this enrollment code is not valid: it may be mistyped, already used or \
                     expired; ask your administrator for a new one",
                ),
            },
            other => other.into(),
        }
    }
}

impl From<ValidationErrors> for FieldcaseError {
    fn from(errors: ValidationErrors) -> Self {
        // `Display` of validation errors names keys and reasons only (see core's model).
        FieldcaseError::Invalid {
            reason: errors.to_string(),
            problems: errors
                .iter()
                .map(|e| FieldProblem {
                    field: e.field.clone(),
                    reason: e.reason.to_string(),
                })
                .collect(),
        }
    }
}

/// A problem with the file or mapping as a whole, on the input the app named.
impl FieldcaseError {
    pub(crate) fn invalid_input(field: &str, message: String) -> Self {
        invalid_input(field, message)
    }
}

fn invalid_input(field: &str, message: String) -> FieldcaseError {
    FieldcaseError::Invalid {
        reason: format!("{field}: {message}"),
        problems: vec![FieldProblem {
            field: field.to_owned(),
            reason: message,
        }],
    }
}

impl From<ReadError> for FieldcaseError {
    fn from(error: ReadError) -> Self {
        // Read errors name rows and what to do, never a cell's content.
        match error {
            ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                FieldcaseError::NotFound {
                    reason: "no file at that path".to_owned(),
                }
            }
            ReadError::Io(io) => FieldcaseError::Storage {
                reason: format!("cannot read the file: {io}"),
            },
            other @ (ReadError::NotUtf8 { .. }
            | ReadError::MalformedCsv { .. }
            | ReadError::UnknownEncoding
            | ReadError::Xlsx(_)
            | ReadError::XlsxTooLarge
            | ReadError::XlsxNotBuilt
            | ReadError::OldXls) => invalid_input("file", other.to_string()),
        }
    }
}

impl From<MappingError> for FieldcaseError {
    fn from(error: MappingError) -> Self {
        match error {
            MappingError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                FieldcaseError::NotFound {
                    reason: "no mapping file at that path".to_owned(),
                }
            }
            // Mapping files hold column names and codes, not personal data.
            other => invalid_input("mapping", other.to_string()),
        }
    }
}

impl From<SpreadsheetError> for FieldcaseError {
    fn from(error: SpreadsheetError) -> Self {
        match error {
            SpreadsheetError::Read(read) => read.into(),
            SpreadsheetError::Plan(plan) => invalid_input("file", plan.to_string()),
            SpreadsheetError::Store(store) => store.into(),
        }
    }
}

impl From<fieldcase_core::handoff::HandoffError> for FieldcaseError {
    fn from(error: fieldcase_core::handoff::HandoffError) -> Self {
        FieldcaseError::Handoff {
            code: error.code().into(),
            reason: error.to_string(),
        }
    }
}

impl From<StoreError> for FieldcaseError {
    fn from(error: StoreError) -> Self {
        // Core's store messages carry table names, field keys and record ids, never values.
        let message = error.to_string();
        match error {
            StoreError::WrongPassphrase => FieldcaseError::WrongPassphrase { reason: message },
            StoreError::Handoff(why) => FieldcaseError::Handoff {
                code: why.code().into(),
                reason: message,
            },
            StoreError::MissingExtraSecret => {
                FieldcaseError::MissingExtraSecret { reason: message }
            }
            StoreError::Locked => FieldcaseError::Locked { reason: message },
            StoreError::Wiped => FieldcaseError::Wiped { reason: message },
            StoreError::TooSoon { retry_after } => FieldcaseError::TooSoon {
                reason: message,
                // Rounded up: an app that waits this long is never refused again.
                retry_after_secs: retry_after.as_millis().div_ceil(1000) as u64,
            },
            StoreError::Erased => FieldcaseError::Erased { reason: message },
            StoreError::LeaseExpired { days } => FieldcaseError::LeaseExpired {
                reason: message,
                days,
            },
            // The policy came from the server: nothing the user can fix.
            StoreError::Policy(_) => FieldcaseError::Refused { reason: message },
            StoreError::NotFound
            | StoreError::NoSuchRecord { .. }
            | StoreError::NoSuchConflict
            | StoreError::NoSuchAttachment { .. } => FieldcaseError::NotFound { reason: message },
            StoreError::AlreadyExists => FieldcaseError::AlreadyExists { reason: message },
            StoreError::Invalid(errors) => errors.into(),
            // An attachment's content failed its SHA-256: damaged or altered, not bad input.
            StoreError::Attachment(AttachmentError::Checksum) => {
                FieldcaseError::Integrity { reason: message }
            }
            // The rest is the app's input: a problem named by what the app passed.
            StoreError::Attachment(
                ref why @ (AttachmentError::TooLarge { .. }
                | AttachmentError::Empty
                | AttachmentError::UnsupportedType { .. }
                | AttachmentError::TypeMismatch { .. }
                | AttachmentError::Field { .. }
                | AttachmentError::Label
                | AttachmentError::ChunkSize),
            ) => FieldcaseError::Invalid {
                problems: vec![FieldProblem {
                    field: attachment_input(why).into(),
                    reason: why.to_string(),
                }],
                reason: message,
            },
            StoreError::AppendOnly { .. }
            | StoreError::MissingCaseLink { .. }
            | StoreError::Form(_)
            | StoreError::FormVersionConflict { .. } => FieldcaseError::Invalid {
                reason: message,
                problems: Vec::new(),
            },
            StoreError::Crypto(CryptoError::WeakExtraSecret(min)) => FieldcaseError::Invalid {
                reason: message,
                problems: vec![FieldProblem {
                    field: "extra_secret".into(),
                    reason: format!("too short: at least {min} bytes"),
                }],
            },
            StoreError::Crypto(CryptoError::KdfOutOfBounds(_)) => FieldcaseError::Invalid {
                reason: message,
                problems: Vec::new(),
            },
            StoreError::Crypto(CryptoError::WrongPassphrase) => {
                FieldcaseError::WrongPassphrase { reason: message }
            }
            StoreError::Crypto(CryptoError::MissingExtraSecret) => {
                FieldcaseError::MissingExtraSecret { reason: message }
            }
            StoreError::Integrity { .. }
            | StoreError::Crypto(CryptoError::Integrity | CryptoError::Malformed(_)) => {
                FieldcaseError::Integrity { reason: message }
            }
            StoreError::Busy => FieldcaseError::Busy { reason: message },
            StoreError::NotOwner { .. } | StoreError::NotReferred { .. } => {
                FieldcaseError::NotAllowed { reason: message }
            }
            // A transition's reason is the app's input: a fault in it is a field problem.
            StoreError::Transition(
                ref why @ (TransitionError::DeclineNeedsReason | TransitionError::InvalidReason(_)),
            ) => FieldcaseError::Invalid {
                problems: vec![FieldProblem {
                    field: "reason".into(),
                    reason: why.to_string(),
                }],
                reason: message,
            },
            StoreError::Transition(
                TransitionError::WrongParty { .. }
                | TransitionError::IllegalTransition { .. }
                | TransitionError::TransferAccepted,
            ) => FieldcaseError::NotAllowed { reason: message },
            // Core's sharing errors name the field key (masked unless it looks like one),
            // never a value; the problem is with the referral's `shared_fields`.
            StoreError::Sharing(ref why) => FieldcaseError::Invalid {
                problems: vec![FieldProblem {
                    field: "shared_fields".into(),
                    reason: why.to_string(),
                }],
                reason: message,
            },
            // An envelope of an unknown format version was written by a newer app, like a
            // schema that is too new.
            StoreError::NotAStore
            | StoreError::Corrupt
            | StoreError::TooNew { .. }
            | StoreError::Crypto(CryptoError::UnsupportedVersion(_))
            | StoreError::Database(_)
            | StoreError::Io(_) => FieldcaseError::Storage { reason: message },
        }
    }
}

impl From<SyncError> for FieldcaseError {
    fn from(error: SyncError) -> Self {
        // Core's sync messages carry status codes, server error codes and the server's
        // plain-language messages (which never hold personal data), never a request body.
        let message = error.to_string();
        match error {
            SyncError::Network(_) => FieldcaseError::Network { reason: message },
            SyncError::Server { .. }
            | SyncError::RateLimited
            | SyncError::Stalled
            | SyncError::BadReply(_) => FieldcaseError::Server { reason: message },
            SyncError::Unauthorized
            | SyncError::CredentialExpired
            | SyncError::CredentialReplaced => FieldcaseError::Unauthorized { reason: message },
            SyncError::Revoked => FieldcaseError::Revoked { reason: message },
            SyncError::StoreUntrusted => FieldcaseError::StoreUntrusted { reason: message },
            // A server restored from an older backup lost changes this device can no longer
            // resend: only an administrator can sort it out, so it must not read as transient
            // (an app would retry it forever).
            // Only the attachment routes answer 404 to a device: another agency's attachment,
            // or none at all (the same answer, so nothing leaks).
            SyncError::Refused {
                code: ErrorCode::NotFound,
                ..
            } => FieldcaseError::NotFound { reason: message },
            SyncError::Refused { .. }
            | SyncError::ServerBehind { .. }
            | SyncError::ReplyTooLarge(_) => FieldcaseError::Refused { reason: message },
            SyncError::NotEnrolled => FieldcaseError::NotEnrolled { reason: message },
            SyncError::Cancelled => FieldcaseError::cancelled(),
            // The app's server address: https, or http to this machine only. Nothing was sent.
            SyncError::ServerUrl(why) => FieldcaseError::Invalid {
                problems: vec![FieldProblem {
                    field: "server_url".into(),
                    reason: why.to_string(),
                }],
                reason: message,
            },
            SyncError::Store(store) => store.into(),
        }
    }
}

/// The argument of the facade's attach calls an attachment error is about.
fn attachment_input(error: &AttachmentError) -> &'static str {
    match error {
        AttachmentError::TooLarge { .. } | AttachmentError::Empty => "content",
        AttachmentError::UnsupportedType { .. } | AttachmentError::TypeMismatch { .. } => {
            "content_type"
        }
        AttachmentError::Field { .. } => "field",
        AttachmentError::Label => "label",
        AttachmentError::ChunkSize | AttachmentError::Checksum => "attachment",
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for FieldcaseError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The app's exception text is not repeated: it may hold anything the app put there.
        FieldcaseError::internal("the app's callback threw an exception")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldcase_core::model::Reason;

    #[test]
    fn attachment_errors_name_the_argument_and_a_bad_checksum_is_integrity() {
        let cases = [
            (
                AttachmentError::TypeMismatch {
                    declared: fieldcase_core::attachments::ContentType::Png,
                    sniffed: "image/jpeg".into(),
                },
                "content_type",
            ),
            (AttachmentError::Empty, "content"),
            (AttachmentError::TooLarge { limit: 1 }, "content"),
            (
                AttachmentError::Field {
                    field: "given_name".into(),
                },
                "field",
            ),
            (AttachmentError::Label, "label"),
        ];
        for (error, field) in cases {
            let FieldcaseError::Invalid { problems, .. } = StoreError::Attachment(error).into()
            else {
                panic!("not Invalid");
            };
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].field, field);
        }
        assert!(matches!(
            StoreError::Attachment(AttachmentError::Checksum).into(),
            FieldcaseError::Integrity { .. }
        ));
        let hidden: FieldcaseError = SyncError::Refused {
            code: ErrorCode::NotFound,
            message: "no such attachment".into(),
        }
        .into();
        assert!(matches!(hidden, FieldcaseError::NotFound { .. }));
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "/sdcard/Amina.jpg");
        let error = FieldcaseError::unreadable_file(&missing);
        assert!(matches!(error, FieldcaseError::NotFound { .. }));
        assert!(!error.to_string().contains("Amina"), "{error}");
    }

    #[test]
    fn validation_errors_keep_every_field_and_no_value() {
        let errors = ValidationErrors(vec![
            ValidationError::new("nationality", Reason::NotCountry),
            ValidationError::new("given_name", Reason::TooLong { max_chars: 200 }),
        ]);
        let FieldcaseError::Invalid { reason, problems } = errors.into() else {
            panic!("not Invalid");
        };
        assert!(
            reason.starts_with("2 invalid fields: nationality"),
            "{reason}"
        );
        assert_eq!(problems[0].field, "nationality");
        assert_eq!(
            problems[0].reason,
            "not an ISO 3166-1 alpha-3 country code (or XKX for Kosovo)"
        );
        assert_eq!(problems[1].field, "given_name");
    }

    #[test]
    fn store_and_sync_errors_map_to_stable_variants() {
        let cases: Vec<(FieldcaseError, &str)> = vec![
            (StoreError::WrongPassphrase.into(), "WrongPassphrase"),
            (StoreError::Locked.into(), "Locked"),
            (StoreError::Wiped.into(), "Wiped"),
            (StoreError::NotFound.into(), "NotFound"),
            (StoreError::Corrupt.into(), "Storage"),
            (StoreError::Busy.into(), "Busy"),
            (SyncError::Network("timed out".into()).into(), "Network"),
            (SyncError::Server { status: 503 }.into(), "Server"),
            (SyncError::Revoked.into(), "Revoked"),
            (SyncError::StoreUntrusted.into(), "StoreUntrusted"),
            (StoreError::Erased.into(), "Erased"),
            (StoreError::LeaseExpired { days: 3 }.into(), "LeaseExpired"),
            (
                StoreError::TooSoon {
                    retry_after: std::time::Duration::from_millis(29_001),
                }
                .into(),
                "TooSoon { reason: \"too many failed unlocks: try again in 30 seconds\", retry_after_secs: 30",
            ),
            (SyncError::Cancelled.into(), "Cancelled"),
            (SyncError::Store(StoreError::Locked).into(), "Locked"),
            (
                FieldcaseError::from_enrollment(SyncError::Unauthorized),
                "Unauthorized",
            ),
        ];
        for (error, variant) in cases {
            let debug = format!("{error:?}");
            assert!(debug.starts_with(variant), "{debug} is not {variant}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn referral_refusals_are_typed_and_name_fields_not_values() {
        use fieldcase_core::referral::{Party, ReferralStatus, SharingError, Transition};
        let wrong_side: FieldcaseError = StoreError::Transition(TransitionError::WrongParty {
            transition: Transition::Accept,
            allowed: Party::Receiver,
        })
        .into();
        assert!(
            matches!(&wrong_side, FieldcaseError::NotAllowed { reason } if reason.contains("only the receiving agency may accept")),
            "{wrong_side:?}"
        );
        let late: FieldcaseError = StoreError::Transition(TransitionError::IllegalTransition {
            from: ReferralStatus::Declined,
            transition: Transition::Accept,
        })
        .into();
        assert!(matches!(late, FieldcaseError::NotAllowed { .. }));
        let not_owner: FieldcaseError = StoreError::NotOwner {
            id: fieldcase_core::RecordId::new(),
        }
        .into();
        assert!(matches!(not_owner, FieldcaseError::NotAllowed { .. }));

        let FieldcaseError::Invalid { problems, .. } =
            StoreError::Transition(TransitionError::DeclineNeedsReason).into()
        else {
            panic!("not Invalid");
        };
        assert_eq!(problems[0].field, "reason");

        let FieldcaseError::Invalid { reason, problems } =
            StoreError::Sharing(SharingError::NotConsented {
                field: "given_name".into(),
            })
            .into()
        else {
            panic!("not Invalid");
        };
        assert_eq!(problems[0].field, "shared_fields");
        assert!(problems[0]
            .reason
            .starts_with("given_name identifies the person"));
        assert!(reason.contains("given_name"));
    }

    /// One of every sync error core has. The match makes a new variant a compile error here
    /// until it is added to the list.
    fn every_sync_error() -> Vec<SyncError> {
        use fieldcase_core::protocol::ErrorCode;
        let all = vec![
            SyncError::Network("timed out".into()),
            SyncError::Server { status: 503 },
            SyncError::RateLimited,
            SyncError::Unauthorized,
            SyncError::Revoked,
            SyncError::StoreUntrusted,
            SyncError::Refused {
                code: ErrorCode::UnsupportedProtocol,
                message: "update the app".into(),
            },
            SyncError::BadReply("not zstd".into()),
            SyncError::ServerBehind {
                server_has_through: 10,
                device_next: 21,
            },
            SyncError::Stalled,
            SyncError::CredentialExpired,
            SyncError::CredentialReplaced,
            SyncError::NotEnrolled,
            SyncError::Cancelled,
            SyncError::ServerUrl(fieldcase_core::sync::ServerUrlError::InsecureHttp),
            SyncError::ReplyTooLarge(fieldcase_core::codec::Limit::Decompressed(1)),
            SyncError::Store(StoreError::Busy),
            SyncError::Store(StoreError::Corrupt),
        ];
        for error in &all {
            match error {
                SyncError::Network(_)
                | SyncError::Server { .. }
                | SyncError::RateLimited
                | SyncError::Unauthorized
                | SyncError::CredentialExpired
                | SyncError::CredentialReplaced
                | SyncError::Revoked
                | SyncError::StoreUntrusted
                | SyncError::Refused { .. }
                | SyncError::BadReply(_)
                | SyncError::ServerBehind { .. }
                | SyncError::Stalled
                | SyncError::NotEnrolled
                | SyncError::Cancelled
                | SyncError::ServerUrl(_)
                | SyncError::ReplyTooLarge(_)
                | SyncError::Store(_) => {}
            }
        }
        all
    }

    #[test]
    fn the_app_retries_exactly_what_core_retries() {
        for error in every_sync_error() {
            let core_transient = error.is_transient();
            let core_message = error.to_string();
            let mapped = FieldcaseError::from(error);
            assert_eq!(
                mapped.is_transient(),
                core_transient,
                "{core_message} became {mapped:?}"
            );
        }
    }

    #[test]
    fn a_server_behind_the_device_is_refused_not_retried() {
        let error: FieldcaseError = SyncError::ServerBehind {
            server_has_through: 10,
            device_next: 21,
        }
        .into();
        assert!(
            matches!(&error, FieldcaseError::Refused { reason } if reason.contains("restored from a backup")),
            "{error:?}"
        );
        assert!(!error.is_transient());
    }

    #[test]
    fn a_weak_extra_secret_names_the_parameter() {
        let error: FieldcaseError = StoreError::Crypto(CryptoError::WeakExtraSecret(16)).into();
        let FieldcaseError::Invalid { problems, .. } = error else {
            panic!("not Invalid");
        };
        assert_eq!(problems[0].field, "extra_secret");
    }
}
