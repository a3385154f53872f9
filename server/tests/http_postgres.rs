//! The HTTP tests of `http/` again, against an in-process server whose storage is PostgreSQL
//! (`ServerConfig::database_url`, what `fieldcase serve --database-url` sets), one fresh
//! database per test on the server `FIELDCASE_TEST_DATABASE_URL` names (see
//! `scripts/with-postgres.sh`). Without that variable these tests fail.
//!
//! Left out: `sealing`, which reads the SQLite files on disk for values in the clear.

#[path = "http/access.rs"]
mod access;
#[path = "http/admin.rs"]
mod admin;
#[path = "http/bodies.rs"]
mod bodies;
#[path = "http/common.rs"]
mod common;
#[path = "http/enroll.rs"]
mod enroll;
#[path = "http/input.rs"]
mod input;
#[path = "http/sync.rs"]
mod sync;
#[path = "http/throttle.rs"]
mod throttle;
#[path = "http/tokens.rs"]
mod tokens;

/// The storage the harness starts servers on.
pub const BACKEND: common::Backend = common::Backend::Postgres;
