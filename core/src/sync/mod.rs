//! The device's sync client: enrollment, and pushing the outbox / pulling pages over HTTP.
//!
//! A sync is a loop of single requests ([`crate::protocol`]): each carries up to
//! [`crate::protocol::MAX_PUSH_OPS`] pending operations and the pull cursor; each reply is
//! applied to the store in one transaction together with its cursor. The loop ends when the
//! server has nothing more and the outbox is empty. The store is locked only between network
//! calls, never across one, so the app stays responsive while a slow link crawls.
//!
//! Failures are classified ([`SyncError::is_transient`]): transient ones (network, timeouts,
//! 5xx, 429) are retried with exponential backoff by [`sync_with_retry`]; permanent ones stop
//! and say what to do. A "device revoked" answer wipes the store, as the agency asked.
//!
//! After the operations, a sync uploads pending attachments chunk by chunk, resuming from
//! the chunks the server reports missing ([`upload_pending`]); [`fetch_attachment`] downloads
//! one attachment into the store.
//!
//! A server address must be `https://`, or plain `http://` to this machine only, unless the
//! caller opts out explicitly ([`ConnectOptions`]); anything else is refused before a
//! connection is made ([`SyncError::ServerUrl`]). HTTPS is TLS 1.2 or newer, with the server's
//! certificate checked against the public roots or the pins the device got at enrollment
//! ([`trust`]).

mod attachments;
mod client;
mod retry;
mod server_url;
pub mod trust;

pub use attachments::{fetch_attachment, fetch_attachment_with_progress, upload_pending};
pub use client::{
    enroll, enroll_pinned, enroll_with_options, renew_lease, sync_once, SyncClient, SyncError,
    SyncOutcome,
};
pub use retry::{sync_with_retry, RetryPolicy};
pub use server_url::{ConnectOptions, ServerUrlError};
pub use trust::{EnrollmentPayload, Pin, TrustError};
