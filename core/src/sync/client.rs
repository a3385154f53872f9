//! One sync run against the server, and enrollment.
//!
//! Each request carries the outbox and, once the whole outbox fits in it, the referral
//! commands waiting for an answer; each reply's page, cursor and command results are applied
//! in one transaction ([`Store::apply_reply`]).

use super::server_url::{check_server_url, ConnectOptions, ServerUrlError, Transport};
use super::trust::Pin;
use crate::codec::{CodecError, Limit};
use crate::protocol::{
    self, Cursor, EnrollRequest, EnrollResponse, ErrorBody, ErrorCode, SyncRequest, SyncResponse,
    DEFAULT_PULL_LIMIT, MAX_PUSH_COMMANDS, MAX_PUSH_OPS, PROTOCOL_VERSION,
};
use crate::store::{Store, StoreError, SyncProgress};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long one request may take before it counts as failed. 2G links move a 100 KB page in
/// a few seconds; a minute leaves room for the worst cell edge without hanging forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for a TCP/TLS connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Most requests one sync run makes before returning, so a run always ends; a backlog
/// bigger than this continues in the next run.
pub const MAX_REQUESTS_PER_RUN: usize = 10_000;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server is having trouble ({status}); will retry")]
    Server { status: u16 },
    #[error("the server is busy; will retry")]
    RateLimited,
    #[error("the server refused this device's credential; enroll the device again")]
    Unauthorized,
    #[error("this device was revoked by an administrator; its local data has been wiped")]
    Revoked,
    /// Nothing on the device is lost: an admin renews it and the next sync goes through.
    #[error(
        "this device's credential expired after too long without a sync; nothing on it is \
         lost: ask your administrator to renew the device, then sync again"
    )]
    CredentialExpired,
    #[error(
        "the server refused an old copy of this device's credential (it was replaced); if this \
         store was restored from a backup, ask your administrator"
    )]
    CredentialReplaced,
    /// The server found this store copied back from an older file, or its unlock record
    /// edited. Nothing here is deleted; the device must be enrolled again.
    #[error(
        "the server no longer accepts this device's store: it was copied back from an older \
         file or its unlock record was edited. Nothing here is deleted; ask your \
         administrator to enroll the device again"
    )]
    StoreUntrusted,
    #[error("the server refused the request ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("the server's reply could not be read: {0}")]
    BadReply(String),
    /// The reply is over this device's size limits. Asking again gets the same page, so this
    /// is not retried: the server's pages must be made smaller (an administrator's matter).
    #[error(
        "the server's reply is larger than this device accepts ({0}); retrying would get the \
         same reply: contact your administrator"
    )]
    ReplyTooLarge(crate::codec::Limit),
    #[error(
        "the server has lost changes this device sent earlier (it holds this device's changes \
         up to number {server_has_through}, the next one here is {device_next}); it was probably \
         restored from a backup. Nothing here is deleted; contact your administrator"
    )]
    ServerBehind {
        server_has_through: u64,
        device_next: u64,
    },
    #[error("the server made no progress on the pending changes; will retry")]
    Stalled,
    #[error("this store is not enrolled with a server")]
    NotEnrolled,
    #[error("sync cancelled")]
    Cancelled,
    /// Refused before any connection: nothing was sent.
    #[error(transparent)]
    ServerUrl(#[from] ServerUrlError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Worth retrying later without anyone doing anything.
    pub fn is_transient(&self) -> bool {
        // A reply that cannot be read is usually a captive portal or a proxy's page on a
        // half-working network: worth trying again later.
        matches!(
            self,
            SyncError::Network(_)
                | SyncError::Server { .. }
                | SyncError::RateLimited
                | SyncError::Stalled
                | SyncError::BadReply(_)
        ) || matches!(self, SyncError::Store(StoreError::Busy))
    }
}

/// What a completed sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    pub requests: usize,
    pub pushed: u64,
    pub rejected: u64,
    pub pulled: u64,
    /// Referral transitions the server applied / refused.
    pub commands_applied: u64,
    pub commands_rejected: u64,
    pub new_conflicts: usize,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Attachments the server now holds whole, and the chunk bytes sent for them (a chunk
    /// resent after a dropped connection counts again).
    pub attachments_uploaded: u64,
    pub attachment_bytes_sent: u64,
}

/// An HTTP client bound to one server and one device credential.
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base_url: String,
    /// Replaced mid-run when the server rotates it (shared by clones of this client).
    credential: Arc<RwLock<String>>,
    pull_limit: u32,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// An HTTP client for a server reached over `transport`. For an https server it refuses every
/// plain-HTTP URL, so a redirect cannot downgrade the connection.
/// Its TLS is [`super::trust::tls_config`]: TLS 1.2 or newer, the certificate checked against
/// the public roots, or against `pins` when the device holds some.
pub(super) fn http_client(
    transport: Transport,
    pins: &[Pin],
) -> Result<reqwest::Client, SyncError> {
    let builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .https_only(transport == Transport::Https)
        .use_preconfigured_tls(super::trust::tls_config(pins));
    builder
        .build()
        .map_err(|e| SyncError::Network(e.to_string()))
}

pub(super) fn network_error(error: reqwest::Error) -> SyncError {
    // reqwest's messages name the URL and the failure, never a body. Its top message ("error
    // sending request") hides the cause a user can act on, such as a refused certificate.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    SyncError::Network(message)
}

pub(super) async fn error_from_response(response: reqwest::Response) -> SyncError {
    let status = response.status().as_u16();
    let body: Option<ErrorBody> = response.json().await.ok();
    match (status, body) {
        (
            _,
            Some(ErrorBody {
                error: ErrorCode::DeviceRevoked,
                ..
            }),
        ) => SyncError::Revoked,
        (
            _,
            Some(ErrorBody {
                error: ErrorCode::CredentialExpired,
                ..
            }),
        ) => SyncError::CredentialExpired,
        (
            _,
            Some(ErrorBody {
                error: ErrorCode::CredentialReplaced,
                ..
            }),
        ) => SyncError::CredentialReplaced,
        (
            _,
            Some(ErrorBody {
                error: ErrorCode::StoreUntrusted,
                ..
            }),
        ) => SyncError::StoreUntrusted,
        (401, _) => SyncError::Unauthorized,
        (429, _) => SyncError::RateLimited,
        (500..=599, _) => SyncError::Server { status },
        (_, Some(body)) => SyncError::Refused {
            code: body.error,
            message: body.message,
        },
        (_, None) => SyncError::BadReply(format!("HTTP {status} without an error body")),
    }
}

impl SyncClient {
    /// A client for the server and credential stored in `store` at enrollment, held to the
    /// default address policy (https, or http to this machine only).
    pub fn for_store(store: &Store) -> Result<SyncClient, SyncError> {
        SyncClient::for_store_with(store, ConnectOptions::default())
    }

    /// [`for_store`](Self::for_store) with explicit connection options.
    pub fn for_store_with(store: &Store, options: ConnectOptions) -> Result<SyncClient, SyncError> {
        let (base_url, credential) = store.server()?.ok_or(SyncError::NotEnrolled)?;
        SyncClient::with_pins(&base_url, credential, options, &store.server_pins()?)
    }

    /// A client held to the default address policy (https, or http to this machine only).
    pub fn new(base_url: &str, credential: String) -> Result<SyncClient, SyncError> {
        SyncClient::with_options(base_url, credential, ConnectOptions::default())
    }

    /// A client for `base_url`; fails with [`SyncError::ServerUrl`] for an address the
    /// options do not allow, before any connection is made.
    pub fn with_options(
        base_url: &str,
        credential: String,
        options: ConnectOptions,
    ) -> Result<SyncClient, SyncError> {
        SyncClient::with_pins(base_url, credential, options, &[])
    }

    /// A client that trusts only a server certificate carrying one of `pins` (none: the
    /// public roots), see [`super::trust`].
    pub fn with_pins(
        base_url: &str,
        credential: String,
        options: ConnectOptions,
        pins: &[Pin],
    ) -> Result<SyncClient, SyncError> {
        let transport = check_server_url(base_url, options)?;
        Ok(SyncClient {
            http: http_client(transport, pins)?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential: Arc::new(RwLock::new(credential)),
            pull_limit: DEFAULT_PULL_LIMIT,
        })
    }

    /// The HTTP client, the server's base URL and the credential, for the attachment
    /// transfers in [`super::attachments`].
    pub(super) fn parts(&self) -> (&reqwest::Client, &str, String) {
        (&self.http, &self.base_url, self.credential())
    }

    fn credential(&self) -> String {
        self.credential
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes the credential a sync reply rotated to: stored in `store` first (so a crash
    /// after this keeps it), then used from the next request on.
    fn rotate_credential(&self, store: &Mutex<Store>, next: &str) -> Result<(), SyncError> {
        lock(store).set_server(&self.base_url, next)?;
        *self.credential.write().unwrap_or_else(|e| e.into_inner()) = next.to_owned();
        Ok(())
    }

    /// Asks for pull pages of this many operations (the server caps it).
    pub fn with_pull_limit(mut self, limit: u32) -> Self {
        self.pull_limit = limit;
        self
    }

    /// One request: push `request`, return the reply and the bytes on the wire.
    async fn exchange(&self, request: &SyncRequest) -> Result<(SyncResponse, u64, u64), SyncError> {
        let body = protocol::encode_body(request);
        let sent = body.len() as u64;
        let response = self
            .http
            .post(format!("{}/v1/sync", self.base_url))
            .bearer_auth(self.credential())
            .header(reqwest::header::CONTENT_TYPE, protocol::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(network_error)?;
        if !response.status().is_success() {
            return Err(error_from_response(response).await);
        }
        let bytes = read_reply(response).await?;
        let reply = protocol::decode_reply(&bytes).map_err(|e| match e {
            CodecError::TooLarge(_) => {
                SyncError::ReplyTooLarge(Limit::Decompressed(protocol::MAX_COMPRESSED_BODY_BYTES))
            }
            CodecError::Limit(limit) => SyncError::ReplyTooLarge(limit),
            other => SyncError::BadReply(other.to_string()),
        })?;
        Ok((reply, sent, bytes.len() as u64))
    }
}

/// Reads a reply body of at most [`protocol::MAX_COMPRESSED_BODY_BYTES`], refusing a longer
/// one as soon as its declared length or its bytes pass the limit.
async fn read_reply(mut response: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    let limit = protocol::MAX_COMPRESSED_BODY_BYTES;
    let too_large = || SyncError::ReplyTooLarge(Limit::Decompressed(limit));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network_error)? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The first operations of `ops` whose JSON adds up to at most
/// [`protocol::MAX_PUSH_JSON_BYTES`] (always at least one).
fn within_push_bytes(
    mut ops: Vec<crate::merge::op::Operation>,
) -> Vec<crate::merge::op::Operation> {
    let mut total = 0usize;
    let keep = ops
        .iter()
        .position(|op| {
            total += serde_json::to_vec(op).map_or(0, |json| json.len());
            total > protocol::MAX_PUSH_JSON_BYTES
        })
        .unwrap_or(ops.len())
        .max(1);
    ops.truncate(keep);
    ops
}

/// Exchanges a one-time enrollment code for a device credential, held to the default address
/// policy (https, or http to this machine only).
pub async fn enroll(
    base_url: &str,
    code: &str,
    device_label: &str,
) -> Result<EnrollResponse, SyncError> {
    enroll_with_options(base_url, code, device_label, ConnectOptions::default()).await
}

/// [`enroll`] with explicit connection options. An address the options do not allow fails with
/// [`SyncError::ServerUrl`] before any connection: the code is not sent, so not spent.
pub async fn enroll_with_options(
    base_url: &str,
    code: &str,
    device_label: &str,
    options: ConnectOptions,
) -> Result<EnrollResponse, SyncError> {
    enroll_pinned(base_url, code, device_label, options, &[]).await
}

/// [`enroll_with_options`] trusting only a server certificate that carries one of `pins` (from
/// the enrollment payload, [`super::EnrollmentPayload`]): the code is never sent to any other
/// server. Store the pins with the credential ([`Store::set_server_pinned`]).
pub async fn enroll_pinned(
    base_url: &str,
    code: &str,
    device_label: &str,
    options: ConnectOptions,
    pins: &[Pin],
) -> Result<EnrollResponse, SyncError> {
    let transport = check_server_url(base_url, options)?;
    let http = http_client(transport, pins)?;
    let response = http
        .post(format!("{}/v1/enroll", base_url.trim_end_matches('/')))
        .json(&EnrollRequest {
            code: code.trim().to_owned(),
            device_label: device_label.to_owned(),
        })
        .send()
        .await
        .map_err(network_error)?;
    if !response.status().is_success() {
        return Err(error_from_response(response).await);
    }
    response
        .json()
        .await
        .map_err(|e| SyncError::BadReply(e.without_url().to_string()))
}

pub(super) fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    // A panic while holding the lock cannot leave the store half-written (SQLite
    // transactions roll back), so a poisoned lock is safe to keep using.
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Pushes everything pending and pulls everything new, request by request, until the
/// server has nothing more. Each reply is applied with its cursor in one transaction.
pub async fn sync_once(
    store: &Mutex<Store>,
    client: &SyncClient,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
) -> Result<SyncOutcome, SyncError> {
    // SQLite's own checkpoints wait until the pages are applied; one checkpoint at the end.
    lock(store).begin_sync_writes()?;
    // Attachments go after the operations: the server takes an attachment only for a case
    // it knows, and the case reaches it with the operations.
    let result = match run(store, client, progress).await {
        Ok(mut outcome) => {
            super::attachments::upload_pending(store, client, progress, &mut outcome)
                .await
                .map(|()| outcome)
        }
        Err(error) => Err(error),
    };
    let mut guard = lock(store);
    if guard.is_wiped() {
        return result;
    }
    let now = crate::hlc::now_ms() as i64;
    let note = match &result {
        // The server answered every request: the lease starts again.
        Ok(_) => guard
            .record_server_contact()
            .and_then(|()| guard.record_sync_outcome(now, None))
            .and_then(|()| guard.end_sync_writes()),
        Err(error) => {
            // Best effort: the failure is what the caller needs to see, and the next sync or
            // the next open sets the threshold again.
            let _ = guard.end_sync_writes();
            guard.record_sync_outcome(now, Some(&error.to_string()))
        }
    };
    drop(guard);
    note?;
    result
}

/// Renews the lease of a store held for it ([`Store::open_for_lease_renewal`]): one request
/// that pushes and pulls nothing, carrying the store's counter. When the server answers, the
/// store takes the agency's policy, the lease starts again and the store is unlocked; a
/// revoked device is wiped, an untrusted store stays locked.
pub async fn renew_lease(store: &Mutex<Store>, client: &SyncClient) -> Result<(), SyncError> {
    let request = {
        let guard = lock(store);
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            ops: Vec::new(),
            cursor: guard.cursor()?.map(Cursor),
            // The page is not applied (the cursor stays): ask for as little as possible.
            pull_limit: Some(1),
            commands: Vec::new(),
            store: Some(guard.next_store_report()?),
            handoff: None,
        }
    };
    match client.exchange(&request).await {
        Ok((reply, _, _)) => {
            let mut guard = lock(store);
            if let Some(policy) = reply.device_policy {
                guard.apply_device_policy(policy)?;
            }
            guard.finish_lease_renewal()?;
            Ok(())
        }
        Err(SyncError::Revoked) => {
            lock(store).wipe()?;
            Err(SyncError::Revoked)
        }
        Err(error) => Err(error),
    }
}

/// A request sent ahead, whose reply is awaited later.
struct InFlight {
    request: SyncRequest,
    reply: AbortOnDrop<Result<(SyncResponse, u64, u64), SyncError>>,
}

/// A task aborted when its handle is dropped, so a sync that fails or is cancelled leaves no
/// request running behind it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl InFlight {
    /// Sends `request` on its own task: on a multi-threaded runtime the server answers and
    /// the reply is decoded while this task applies the previous page. (On a current-thread
    /// runtime it simply runs when awaited.)
    fn send(client: &SyncClient, request: SyncRequest) -> InFlight {
        let client = client.clone();
        // A pure pull: no operations or commands, so the copy is a cursor and a few bytes.
        let sent = request.clone();
        let reply = tokio::spawn(async move { client.exchange(&sent).await });
        InFlight {
            request,
            reply: AbortOnDrop(reply),
        }
    }

    async fn reply(mut self) -> (SyncRequest, Result<(SyncResponse, u64, u64), SyncError>) {
        let reply = match (&mut self.reply.0).await {
            Ok(reply) => reply,
            // Only a panic in the HTTP client or the codec gets here (nothing else aborts the
            // task while it is awaited). The page was not applied: retry like a network error.
            Err(e) => Err(SyncError::Network(format!("the request task failed: {e}"))),
        };
        (self.request, reply)
    }
}

/// The request that pulls the page after `reply`, when it is safe to send before `reply` is
/// applied: the request that got `reply` pushed nothing and carried no command (so the
/// outbox was empty and no answer can change what to send next), and the server has more.
/// It is the request the loop would build after applying `reply`, whose cursor is stored with
/// that page. Work saved meanwhile goes in the next request after the pull ends.
fn pull_ahead(request: &SyncRequest, reply: &SyncResponse) -> Option<SyncRequest> {
    (reply.more && request.ops.is_empty() && request.commands.is_empty()).then(|| SyncRequest {
        store: None,
        protocol: PROTOCOL_VERSION,
        ops: Vec::new(),
        cursor: Some(reply.next_cursor.clone()),
        pull_limit: request.pull_limit,
        commands: Vec::new(),
        handoff: None,
    })
}

async fn run(
    store: &Mutex<Store>,
    client: &SyncClient,
    progress: &(dyn Fn(&SyncProgress) + Send + Sync),
) -> Result<SyncOutcome, SyncError> {
    let mut outcome = SyncOutcome::default();
    let mut shown = SyncProgress {
        to_push: lock(store).pending_work()?.0,
        ..Default::default()
    };
    progress(&shown);
    // The next page, asked for while the current one is applied (see `pull_ahead`).
    let mut ahead: Option<InFlight> = None;
    for _ in 0..MAX_REQUESTS_PER_RUN {
        let (request, reply) = match ahead.take() {
            Some(in_flight) => in_flight.reply().await,
            None => {
                let request = next_request(store, client)?;
                let reply = client.exchange(&request).await;
                (request, reply)
            }
        };
        let pushed_now = request.ops.len() as u64;
        let commands_now = request.commands.len();
        let first_pending = request.ops.first().map(|op| op.op_id.seq);
        let (reply, sent, received) = match reply {
            Err(SyncError::Revoked) => {
                lock(store).wipe()?;
                return Err(SyncError::Revoked);
            }
            other => other?,
        };
        // Before anything else is sent: the request sent ahead below must carry the new
        // credential, or the server would take it for a device that lost this reply.
        if let Some(next) = &reply.next_credential {
            client.rotate_credential(store, &next.0)?;
        }
        outcome.requests += 1;
        outcome.bytes_sent += sent;
        outcome.bytes_received += received;
        if let Some(first) = first_pending.filter(|first| reply.acked_through + 1 < *first) {
            // The server has processed fewer of our operations than it once acknowledged
            // (restored from an older backup): the operations in between left our outbox
            // long ago, so no resend can close the gap. Say so instead of pushing forever.
            return Err(SyncError::ServerBehind {
                server_has_through: reply.acked_through,
                device_next: first,
            });
        }
        ahead = match pull_ahead(&request, &reply) {
            Some(mut next) => {
                next.store = Some(lock(store).next_store_report()?);
                Some(InFlight::send(client, next))
            }
            None => None,
        };
        let rejected: Vec<_> = reply
            .rejections
            .iter()
            .map(|r| (r.op_id, format!("{:?}", r.reason)))
            .collect();
        let (remaining, remaining_commands) = {
            let mut guard = lock(store);
            if let Some(policy) = reply.device_policy {
                guard.apply_device_policy(policy)?;
            }
            guard.acknowledge(reply.acked_through, &rejected)?;
            let report =
                guard.apply_reply(&reply.ops, &reply.next_cursor.0, &reply.command_results)?;
            if let Some(handoff) = &reply.handoff {
                guard.apply_handoff_reply(handoff)?;
            }
            outcome.new_conflicts += report.new_conflicts;
            outcome.commands_applied += report.commands_applied as u64;
            outcome.commands_rejected += report.commands_rejected as u64;
            let (ops, commands) = guard.pending_work()?;
            (
                ops,
                commands.saturating_sub(guard.handoff_waiting_commands()?),
            )
        };
        let acked_now = first_pending
            .map_or(0, |first| (reply.acked_through + 1).saturating_sub(first))
            .min(pushed_now);
        outcome.pushed += acked_now;
        outcome.rejected += rejected.len() as u64;
        outcome.pulled += reply.ops.len() as u64;
        shown.pushed += acked_now;
        shown.to_push = shown.to_push.max(shown.pushed + remaining);
        shown.pulled = outcome.pulled;
        shown.more_to_pull = reply.more;
        progress(&shown);
        let cursor_moved = request.cursor.as_ref() != Some(&reply.next_cursor);
        // A handed-over referral the server cannot place yet leaves its commands unanswered
        // on purpose: that is progress (the phone now holds them back), not a stall.
        let handoff_pending = reply.handoff.as_ref().is_some_and(|h| {
            h.results
                .iter()
                .any(|r| r.outcome == protocol::HandoffOutcome::Pending)
        });
        let unanswered = commands_now > 0 && reply.command_results.is_empty() && !handoff_pending;
        let nothing_taken = (pushed_now > 0 && acked_now == 0) || (pushed_now == 0 && unanswered);
        if nothing_taken && reply.ops.is_empty() && !cursor_moved {
            // The server took none of what we sent (operations or referral commands), had
            // nothing for us and did not move our cursor, whatever `more` says: asking again
            // at once would loop. Let the retry policy decide when to try again.
            return Err(SyncError::Stalled);
        }
        if ahead.is_none() && !reply.more && remaining == 0 && remaining_commands == 0 {
            return Ok(outcome);
        }
    }
    Ok(outcome)
}

/// The next request: the outbox's first operations and, once the whole outbox fits, the
/// referral commands; the stored cursor.
fn next_request(store: &Mutex<Store>, client: &SyncClient) -> Result<SyncRequest, SyncError> {
    let mut guard = lock(store);
    let ops = within_push_bytes(guard.pending_ops(MAX_PUSH_OPS)?);
    // Commands go only with the whole outbox: a command about a referral made on this device
    // must reach the server after the referral itself, or it would be refused as unknown,
    // for good.
    let whole_outbox = ops.len() as u64 == guard.pending_work()?.0;
    let commands = if whole_outbox {
        // Commands on a referral handed over offline whose case the server lacks wait for it.
        let waiting = guard.handoff_waiting()?;
        let mut commands = guard.pending_commands(MAX_PUSH_COMMANDS)?;
        commands.retain(|c| !waiting.contains(&c.referral_id));
        commands
    } else {
        Vec::new()
    };
    Ok(SyncRequest {
        store: Some(guard.next_store_report()?),
        protocol: PROTOCOL_VERSION,
        ops,
        cursor: guard.cursor()?.map(Cursor),
        pull_limit: Some(client.pull_limit),
        commands,
        // Registers this device's signing key, refreshes the directory, presents bundles read.
        handoff: Some(guard.handoff_sync()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers every request with `body` as a sync reply.
    async fn canned_server(body: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = vec![0u8; 64 * 1024];
                    let _ = stream.read(&mut request).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        protocol::CONTENT_TYPE,
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn request() -> SyncRequest {
        SyncRequest {
            store: None,
            protocol: PROTOCOL_VERSION,
            ops: vec![],
            cursor: None,
            pull_limit: None,
            commands: vec![],
            handoff: None,
        }
    }

    #[tokio::test]
    async fn a_reply_over_the_device_limits_is_a_permanent_error() {
        // A page whose one value is a few megabytes of `[0,0,…]`: a few KB on the wire.
        let zeros = format!("[{}0]", "0,".repeat(2 * 1024 * 1024));
        let page = format!(
            r#"{{"acked_through":0,"next_cursor":"e.1","more":false,"server_time_ms":1,
            "ops":[{{"op_id":{{"d":"00000000-0000-4000-8000-000000000001","s":1}},
            "kind":"case","record_id":"00000000-0000-7000-8000-000000000001",
            "hlc":{{"w":1,"c":0,"d":"00000000-0000-4000-8000-000000000001"}},
            "fields":{{"sex":{{"v":{zeros}}}}}}}]}}"#
        );
        let url = canned_server(zstd::bulk::compress(page.as_bytes(), 3).unwrap()).await;
        let client = SyncClient::new(&url, "credential".into()).unwrap();
        let error = client.exchange(&request()).await.unwrap_err();
        assert!(
            matches!(error, SyncError::ReplyTooLarge(Limit::Value(_))),
            "{error:?}"
        );
        assert!(!error.is_transient(), "asking again gets the same page");

        // Over the compressed limit: refused while reading, before decoding.
        let noise: Vec<u8> = (0..protocol::MAX_COMPRESSED_BODY_BYTES as u32 + 10)
            .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        let url = canned_server(noise).await;
        let client = SyncClient::new(&url, "credential".into()).unwrap();
        let error = client.exchange(&request()).await.unwrap_err();
        assert!(matches!(error, SyncError::ReplyTooLarge(_)), "{error:?}");
        assert!(!error.is_transient());
    }

    fn reply(more: bool) -> SyncResponse {
        serde_json::from_value(serde_json::json!({
            "acked_through": 0, "next_cursor": "e.7", "more": more, "server_time_ms": 1,
            "ops": [],
        }))
        .unwrap()
    }

    #[test]
    fn only_a_pure_pull_with_more_to_come_asks_for_the_next_page_ahead() {
        let pull = SyncRequest {
            store: None,
            cursor: Some(Cursor("e.3".into())),
            pull_limit: Some(7),
            ..request()
        };
        let next = pull_ahead(&pull, &reply(true)).expect("the next page is asked for");
        assert_eq!(
            next.cursor,
            Some(Cursor("e.7".into())),
            "the page's own cursor"
        );
        assert_eq!(next.pull_limit, Some(7));
        assert!(next.ops.is_empty() && next.commands.is_empty());
        assert_eq!(
            pull_ahead(&pull, &reply(false)),
            None,
            "nothing more to pull"
        );

        // A push or a command changes what the next request carries: never ahead.
        let mut pushing = pull.clone();
        pushing.ops.push(
            serde_json::from_value(serde_json::json!({
                "op_id": {"d": "00000000-0000-4000-8000-000000000001", "s": 1},
                "kind": "note", "record_id": "00000000-0000-7000-8000-000000000001",
                "hlc": {"w": 1, "c": 0, "d": "00000000-0000-4000-8000-000000000001"},
                "fields": {}
            }))
            .unwrap(),
        );
        assert_eq!(pull_ahead(&pushing, &reply(true)), None);
        let mut commanding = pull.clone();
        commanding.commands.push(protocol::ReferralCommand {
            command_id: crate::merge::op::OpId {
                device: crate::ids::DeviceId::from_bytes([1; 16]),
                seq: 1,
            },
            referral_id: crate::ids::RecordId::from_bytes([2; 16]),
            transition: crate::referral::Transition::Accept,
            expected_status: crate::referral::ReferralStatus::Sent,
            reason: None,
        });
        assert_eq!(pull_ahead(&commanding, &reply(true)), None);
    }

    #[test]
    fn a_push_is_cut_at_its_byte_bound_but_never_empty() {
        let op = |seq: u64, text_bytes: usize| crate::merge::op::Operation {
            op_id: crate::merge::op::OpId {
                device: crate::ids::DeviceId::from_bytes([1; 16]),
                seq,
            },
            kind: crate::merge::op::RecordKind::Note,
            record_id: crate::ids::RecordId::from_bytes([2; 16]),
            hlc: crate::hlc::Hlc {
                wall_ms: 1,
                counter: 0,
                device: crate::ids::DeviceId::from_bytes([1; 16]),
            },
            fields: [(
                "text".to_owned(),
                crate::merge::op::FieldChange::fresh("x".repeat(text_bytes).into()),
            )]
            .into(),
        };
        let big = protocol::MAX_PUSH_JSON_BYTES / 3;
        let kept = within_push_bytes((1..=5).map(|s| op(s, big)).collect());
        assert_eq!(kept.len(), 2);
        let lone = within_push_bytes(vec![op(1, protocol::MAX_PUSH_JSON_BYTES * 2)]);
        assert_eq!(lone.len(), 1);
        assert_eq!(
            within_push_bytes((1..=3).map(|s| op(s, 10)).collect()).len(),
            3
        );
    }
}
