#!/usr/bin/env bash
# The mobile bindings, tested from Kotlin on a desktop JVM, end to end:
#   1. builds libfieldcase_ffi with the test-only cheap key derivation and generates its
#      Kotlin sources (scripts/generate-bindings.sh);
#   2. builds the server binary (`fieldcase`), which the tests start on loopback;
#   3. runs `mvn -q -B test` in ffi/kotlin-tests: the generated Kotlin is compiled with the
#      tests and loads the library through JNA. Maven downloads what it needs on first use.
#
# Environment:
#   FIELDCASE_FFI_PROFILE=release   test (and benchmark) a release build of the library
#   FIELDCASE_BENCH=1               also run the boundary benchmark (prints figures)
#   FIELDCASE_MAVEN_REPO=DIR        Maven's local repository (default: ~/.m2/repository),
#                                   e.g. an empty dir to prove a fresh machine works
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"

profile="${FIELDCASE_FFI_PROFILE:-debug}"
generate_args=(--features insecure-test-kdf --language kotlin)
[ "$profile" = release ] && generate_args+=(--release)
library="$(scripts/generate-bindings.sh "${generate_args[@]}")"
cargo build --locked -p fieldcase-server

mvn_args=(-q -B -Dstyle.color=never test
    "-Dfieldcase.bindings.dir=$target_dir/uniffi/kotlin"
    "-Dfieldcase.lib.dir=$(dirname "$library")"
    "-Dfieldcase.server.bin=$target_dir/debug/fieldcase")
[ "${FIELDCASE_BENCH:-0}" = 1 ] && mvn_args+=(-Dfieldcase.bench=true)
[ -n "${FIELDCASE_MAVEN_REPO:-}" ] && mvn_args+=("-Dmaven.repo.local=$FIELDCASE_MAVEN_REPO")

reports=ffi/kotlin-tests/target/surefire-reports
rm -rf "$reports" ffi/kotlin-tests/target/work
status=0
(cd ffi/kotlin-tests && mvn "${mvn_args[@]}") || status=$?

# `mvn -q` prints nothing on success: sum up surefire's reports in one closing line.
count() { # count ATTRIBUTE: the sum of <testsuite ATTRIBUTE="n"> over all reports
    local total=0 n
    for report in "$reports"/TEST-*.xml; do
        n="$(grep -o '<testsuite [^>]*>' "$report" | head -n 1 | grep -o " $1=\"[0-9]*\"" | tr -dc 0-9)"
        total=$((total + ${n:-0}))
    done
    echo "$total"
}
echo # Maven may leave a terminal reset sequence without a newline.
if compgen -G "$reports/TEST-*.xml" >/dev/null; then
    tests="$(count tests)"; failed=$(( $(count failures) + $(count errors) )); skipped="$(count skipped)"
    echo "kotlin: $((tests - failed - skipped)) passed, $failed failed, $skipped skipped"
else
    echo "kotlin: no test reports (the build failed before the tests ran)"
fi
exit "$status"
