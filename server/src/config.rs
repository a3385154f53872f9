//! Server settings and the named bounds the server enforces.
//!
//! Wire limits (push batch, pull page, body sizes) live in `fieldcase_core::protocol` because
//! both ends must agree on them; this module holds the bounds only the server cares about.

use crate::server_key::KeySource;
use crate::time::{SystemTimeSource, TimeSource};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long an enrollment code stays valid unless the admin asks otherwise: long enough for a
/// code issued on Friday to reach a caseworker in the field on Monday.
pub const DEFAULT_ENROLLMENT_CODE_HOURS: u32 = 72;

/// The longest validity an admin may give an enrollment code. A code is a bearer secret of
/// ~59 bits; a month bounds how long a code written on paper stays worth stealing.
pub const MAX_ENROLLMENT_CODE_HOURS: u32 = 24 * 30;

/// How long an admin token or an API token stays valid unless the issuer asks otherwise: a
/// quarter, so a token copied onto a laptop or into a script stops working on its own within
/// months, and a rotation every quarter is a routine an office can keep.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;

/// The longest validity an issuer may give an admin token or an API token: a year, so no
/// bearer secret outlives the yearly review of who holds access.
pub const MAX_TOKEN_DAYS: u32 = 365;

/// A token's `last_used_at` is written at most this often: often enough to tell a token in
/// use from a forgotten one, rarely enough that reading a report does not queue behind the
/// writer on every request.
pub const LAST_USED_GRANULARITY_MS: u64 = 60_000;

/// Shortest metrics token accepted: 32 characters of a generated secret (e.g. `openssl rand
/// -base64 32`) cannot be guessed, and a shorter one is more likely a word someone typed.
pub const MIN_METRICS_TOKEN_CHARS: usize = 32;

/// Largest JSON body accepted on the small JSON routes (enrollment, admin). Their messages are
/// a few hundred bytes; 64 KiB leaves room without letting anyone make us buffer megabytes.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Sync requests processed at once. Each may hold up to
/// `protocol::MAX_DECOMPRESSED_BODY_BYTES` (64 MiB) decoded; 16 keeps the worst case near
/// 1 GiB while one device's large first sync never blocks the others (they queue briefly).
pub const MAX_CONCURRENT_SYNCS: usize = 16;

/// Rows a pull scans at most, visible or not (a device's own operations are scanned and
/// skipped). Four full pages: enough that a device that pushed a large backlog does not get
/// empty pages back, small enough that a pull's work stays bounded.
pub const MAX_PULL_SCAN_ROWS: u32 = 4 * fieldcase_core::protocol::MAX_PULL_LIMIT;

/// A device's `last_seen_at` is written at most this often. Writing it on every pull-only
/// sync would put a write (and the writer lock) on a path that otherwise only reads.
pub const LAST_SEEN_GRANULARITY_MS: u64 = 60_000;

/// Smallest count published outside the network (`disclosure=public`, CSV, HXL): counts from
/// 1 to this minus one are suppressed. Five is the common floor of statistical offices for
/// counts of people; operators may raise it (`--report-threshold`), requests may raise it for
/// one report, nobody may lower it per request.
pub const DEFAULT_REPORT_THRESHOLD: u64 = 5;

/// Most duplicate candidates one review page returns.
pub const MAX_REVIEW_PAGE: usize = 1000;

/// Longest a device label or a display name may be, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// How long graceful shutdown waits for in-flight requests after SIGTERM / ctrl-c, so a
/// supervisor's restart is never blocked by a stalled 2G connection.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Deadline of one request from its headers to its reply, body upload included: a client that
/// trickles its body (a byte every few seconds) holds a connection and a task, and without a
/// deadline a few hundred such clients starve everyone. Two minutes is twice the device's own
/// request timeout (`fieldcase_core::sync::client::REQUEST_TIMEOUT`, one minute): a request
/// still running then has been abandoned by an honest device. The reply is `408` with an
/// `ErrorBody`; a sync cut off after its push was applied is safe to retry (idempotent).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest a client may take to send a request's headers (a connection's first, or the next
/// on a kept-alive connection). Headers are a few hundred bytes, a second's work on 2G; a
/// client that trickles them holds a connection and a task, and without this deadline a few
/// hundred such clients exhaust the server. 30 s is hyper's own default, which `axum::serve`
/// leaves inactive; it also closes idle kept-alive connections after as long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest pause between two pieces of a request body: a client that stops sending for this
/// long is cut off at once rather than at [`REQUEST_TIMEOUT`]. A 2G link stalls for seconds
/// between cells, not half a minute.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a running server does its housekeeping ([`crate::service::maintenance`]): signs
/// an audit checkpoint when entries were added since the last one and purges closed cases
/// past their agency's retention period. An hour bounds how many audit entries are not yet
/// under a signed checkpoint, and purging is measured in days, so more often buys nothing.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Everything `fieldcase serve` (or a test) needs to start a server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Holds the database, the server key (unless `key` says otherwise) and the first
    /// admin token.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 lets the OS choose (see [`crate::Server::local_addr`]).
    pub listen: SocketAddr,
    /// Where the at-rest sealing key comes from. [`KeySource::DataDir`]:
    /// `<data_dir>/server.key`, created on first start. Any other source must give the key:
    /// a missing key an operator pointed at is an error, not a reason to make a new one that
    /// cannot open the existing data.
    pub key: KeySource,
    /// Default validity of enrollment codes, in hours.
    pub enrollment_code_hours: u32,
    /// The clock (tests use a manual one to expire codes without waiting).
    pub time: Arc<dyn TimeSource>,
    /// Suppression threshold of public reports ([`DEFAULT_REPORT_THRESHOLD`]).
    pub report_threshold: u64,
    /// A bearer token that may read `/metrics` and nothing else (for a Prometheus scraper),
    /// besides system-admin tokens. At least [`MIN_METRICS_TOKEN_CHARS`] characters.
    pub metrics_token: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client, for counting authentication
    /// failures per client ([`crate::http::throttle`]). Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Deadline of one request, body upload included ([`REQUEST_TIMEOUT`]; tests shorten it).
    pub request_timeout: Duration,
    /// Deadline of a request's headers ([`HEADER_READ_TIMEOUT`]; tests shorten it).
    pub header_read_timeout: Duration,
    /// A PostgreSQL database (`postgres://…`) instead of the embedded SQLite file in
    /// `data_dir`. The at-rest key and the first admin token still live in `data_dir`. May hold
    /// a password: never logged or printed whole (see
    /// [`crate::storage::postgres::describe_url`]).
    pub database_url: Option<String>,
    /// Serve TLS from these PEM files ([`crate::tls`]), reloaded when they change.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Pins of keys the server will move to (a planned key change), given to devices with
    /// the current key's pin at enrollment so they accept either.
    pub tls_backup_pins: Vec<fieldcase_core::sync::Pin>,
    /// How often the TLS files are checked for a renewal ([`crate::tls::RELOAD_CHECK_INTERVAL`];
    /// tests shorten it).
    pub tls_reload_interval: Duration,
    /// Device credentials' lifetime and rotation ([`crate::service::credentials`]).
    pub credential_policy: crate::service::credentials::CredentialPolicy,
    /// How often housekeeping runs ([`MAINTENANCE_INTERVAL`]; tests shorten it).
    pub maintenance_interval: Duration,
}

impl ServerConfig {
    /// Defaults for a data directory: loopback, OS-chosen port, generated key.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            key: KeySource::DataDir,
            enrollment_code_hours: DEFAULT_ENROLLMENT_CODE_HOURS,
            time: Arc::new(SystemTimeSource),
            report_threshold: DEFAULT_REPORT_THRESHOLD,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            request_timeout: REQUEST_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            database_url: None,
            tls: None,
            tls_backup_pins: Vec::new(),
            tls_reload_interval: crate::tls::RELOAD_CHECK_INTERVAL,
            credential_policy: Default::default(),
            maintenance_interval: MAINTENANCE_INTERVAL,
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("fieldcase.db")
    }

    pub fn default_key_path(&self) -> PathBuf {
        self.data_dir.join("server.key")
    }

    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }
}
