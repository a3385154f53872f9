//! Fuzz targets for the parsers that take bytes from outside: the sync body decoder, the
//! sealed-value envelope, the JSON Lines import, the XLSForm import and the form expression
//! parser (the server's key file is in `server/tests/fuzz_server_key.rs`).
//!
//! Each target is a [`bolero`] check. Under `cargo test` (stable) it runs random inputs for
//! bolero's default second per target, or as `BOLERO_RANDOM_TEST_TIME_MS` /
//! `BOLERO_RANDOM_ITERATIONS` say; under `cargo bolero test <target> --engine libfuzzer`
//! (nightly) the same code is a coverage-guided fuzzer. See `docs/fuzzing.md`.
//!
//! Every target checks the same things: no input panics, bad input gets a typed error, and
//! where a decoder has an encoder, what it decoded encodes to something that decodes equal.

#[path = "../common/mod.rs"]
mod common;
mod tape;

mod expr;
mod jsonl_import;
mod sealed_value;
mod sync_body;
mod xlsform;
