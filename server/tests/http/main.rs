//! HTTP tests against a real server on a loopback port (in-process), with real SQLite files.

mod access;
mod admin;
mod bodies;
mod common;
mod enroll;
mod input;
mod sealing;
mod sync;
mod throttle;
mod tokens;
