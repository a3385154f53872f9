#!/usr/bin/env bash
# The whole test suite, from a fresh checkout on a fresh machine. What the README calls
# "run the tests", and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, integration and end-to-end tests"
cargo test --workspace --locked

step "mobile bindings: Kotlin on a JVM against a real server"
./scripts/ffi-kotlin-test.sh

step "benchmarks compile"
cargo bench --workspace --locked --no-run

printf '\nAll checks passed.\n'
