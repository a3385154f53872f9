//! HTTP tests against a real server on a loopback port (in-process), with real SQLite files.
//! `http_postgres.rs` runs the same modules against a server on PostgreSQL.

mod access;
mod admin;
mod bodies;
mod common;
mod document;
mod enroll;
mod input;
mod sealing;
mod sync;
mod throttle;
mod tokens;

/// The storage the harness starts servers on.
pub const BACKEND: common::Backend = common::Backend::Sqlite;
