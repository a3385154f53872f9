#!/usr/bin/env bash
# The central-office dashboard, tested end to end in a real browser:
#   1. installs Debian's chromium when it is missing (apt-get; root or sudo) — a test tool's own
#      browser download cannot work on a closed network, Debian's package can;
#      with the DejaVu fonts the reference screenshots were taken with;
#   2. installs the test's packages (playwright-core, axe-core, pixelmatch, pngjs: pinned in
#      server/dashboard/tests/package-lock.json) and the dashboard's vendored packages (d3,
#      topojson-client, world-atlas, esbuild: server/dashboard/vendor/package-lock.json, to
#      check that the committed bundle is their build) with npm ci;
#   3. builds the `fieldcase` binary; the test starts `fieldcase serve` on loopback itself,
#      seeds it through the real command line (agencies, users, devices, cases, a referral,
#      a duplicate pair) and drives the dashboard in headless chromium: figures, names in
#      English and French, trends, map, filters, exports, keyboard use, an axe-core scan and
#      screenshots compared with server/dashboard/tests/screenshots (FIELDCASE_UPDATE_SCREENSHOTS=1
#      writes them anew after a deliberate change of the page).
#
# Environment:
#   FIELDCASE_CHROMIUM=PATH   a chromium binary to use instead of /usr/bin/chromium
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"

chromium="${FIELDCASE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ] || ! fc-list 2>/dev/null | grep -q "DejaVu Sans"; then
    echo "installing Debian's chromium (once per machine)" >&2
    as_root=()
    [ "$(id -u)" -ne 0 ] && as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null
fi

(cd server/dashboard/tests && npm ci --no-audit --no-fund --loglevel=error)
(cd server/dashboard/vendor && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked -p fieldcase-server

cd server/dashboard/tests
FIELDCASE_BIN="$target_dir/debug/fieldcase" FIELDCASE_CHROMIUM="$chromium" npm test
