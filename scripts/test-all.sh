#!/usr/bin/env bash
# The whole test suite, from a fresh checkout on a fresh machine. What the README calls
# "run the tests", and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Incremental caches roughly double the size of a build tree and only pay off when the same
# tree is rebuilt; a fresh machine builds once. Set CARGO_INCREMENTAL=1 to keep them locally.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Under a throwaway PostgreSQL (installed when missing): the PostgreSQL storage tests need one
# and fail, rather than skip, without it.
step "unit, integration and end-to-end tests (with a throwaway PostgreSQL)"
./scripts/with-postgres.sh cargo test --workspace --locked

step "mobile bindings: Kotlin on a JVM against a real server"
./scripts/ffi-kotlin-test.sh

step "dashboard: headless Debian chromium against a real server"
./scripts/dashboard-test.sh

step "API fuzzing: Schemathesis per role against a real server (docs/api-testing.md)"
./scripts/api-fuzz.sh

# Benchmarks are type-checked by clippy above; this links them too, in the debug profile the
# tests already built, rather than a second, optimized copy of every dependency.
step "benchmarks build"
cargo build --workspace --benches --locked

printf '\nAll checks passed.\n'
