//! fieldcase-server: the sync server of an agency network and the `fieldcase` command line.
//!
//! Phones push the operations they recorded offline and pull what their agency's other devices
//! recorded, through one `POST /v1/sync` round trip ([`sync`]); admins enroll and revoke devices
//! through `/v1/admin/…` ([`http::admin`]). Everything the server keeps goes through the
//! [`storage::Storage`] trait (SQLite embedded by default, PostgreSQL with `serve --database-url`); operation payloads are sealed at rest
//! ([`seal`]). Nothing here logs, returns or counts a field's value: logs carry ids, agencies,
//! routes, counts and durations only.
//!
//! Layers point down: [`cli`] → [`server`] → [`http`] → [`sync`] → [`service`] (every rule:
//! acceptance, audiences, visibility, referrals, audit) → [`storage`] (a narrow transactional
//! port: SQLite embedded by default, or PostgreSQL) → [`seal`].
//! Protocol types come from `fieldcase_core::protocol`: one definition, two ends.

pub mod admin_client;
pub mod api;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod error;
mod fsutil;
pub mod http;
mod listen;
pub mod metrics;
pub mod report_api;
pub mod reports;
pub mod roles;
pub mod seal;
pub mod server;
pub mod server_key;
pub mod service;
pub mod storage;
pub mod sync;
pub mod time;
pub mod tls;

pub use config::ServerConfig;
pub use server::{RunningServer, Server, StartError};
