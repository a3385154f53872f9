#!/usr/bin/env bash
# The central-office dashboard, tested end to end in a real browser:
#   1. installs Debian's chromium when it is missing (apt-get; root or sudo) — a test tool's own
#      browser download cannot work on a closed network, Debian's package can;
#   2. installs playwright-core (pinned in server/dashboard/tests/package-lock.json) with npm ci;
#   3. builds the `fieldcase` binary; the test starts `fieldcase serve` on loopback itself,
#      seeds it through the real command line (agencies, users, devices, cases, a referral,
#      a duplicate pair) and drives the dashboard in headless chromium.
#
# Environment:
#   FIELDCASE_CHROMIUM=PATH   a chromium binary to use instead of /usr/bin/chromium
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"

chromium="${FIELDCASE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
    echo "installing Debian's chromium (once per machine)" >&2
    as_root=()
    [ "$(id -u)" -ne 0 ] && as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        chromium >/dev/null
fi

(cd server/dashboard/tests && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked -p fieldcase-server

cd server/dashboard/tests
FIELDCASE_BIN="$target_dir/debug/fieldcase" FIELDCASE_CHROMIUM="$chromium" npm test
