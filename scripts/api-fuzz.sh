#!/usr/bin/env bash
# Schemathesis against the OpenAPI document a real `fieldcase serve` serves, once per role, each
# with a real token of that role: no 5xx, no status, content type or body off the document, and
# no 2xx on a route the role may not use (scripts/api-fuzz/roles.py). See docs/api-testing.md.
#
# Installs the pinned Schemathesis (scripts/api-fuzz/requirements.txt) into a virtualenv under
# the cargo target directory, builds the debug `fieldcase` binary, starts it on a loopback port
# in a throwaway directory, seeds agencies, users, tokens and an enrolled device through the
# real command line and API, then runs. Knobs: FIELDCASE_FUZZ_EXAMPLES (examples per operation,
# default 25), FIELDCASE_FUZZ_SECONDS (time budget per role, default 40), FIELDCASE_FUZZ_ROLES
# (a space-separated subset), FIELDCASE_FUZZ_SEED (replay a run).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${FIELDCASE_FUZZ_EXAMPLES:-25}"
SECONDS_PER_ROLE="${FIELDCASE_FUZZ_SECONDS:-40}"
ROLES="${FIELDCASE_FUZZ_ROLES:-anonymous caseworker supervisor analyst agency_admin system_admin}"
TARGET="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET/api-fuzz-venv"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "installing Debian's python3-venv (once per machine)" >&2
    as_root=()
    [ "$(id -u)" -ne 0 ] && as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        python3-venv >/dev/null
fi
if ! cmp -s scripts/api-fuzz/requirements.txt "$VENV/requirements.txt" 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/api-fuzz/requirements.txt
    cp scripts/api-fuzz/requirements.txt "$VENV/requirements.txt"
fi

VENV_ABS="$(realpath "$VENV")"

cargo build --quiet --locked -p fieldcase-server --bin fieldcase
BIN="$TARGET/debug/fieldcase"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# One server per role, so every role starts from the same seeded data. 127.0.0.1 is its trusted
# proxy: the hooks give each request a source address of its own (see hooks.py).
start_server() {
    local data="$WORK/server-$1"
    "$BIN" serve --data-dir "$data" --listen 127.0.0.1:0 --trusted-proxy 127.0.0.1 >"$WORK/serve-$1.out" 2>"$WORK/serve-$1.err" &
    SERVER_PID=$!
    URL=""
    for _ in $(seq 1 200); do
        URL="$(grep -o 'listening on http://[0-9.:]*' "$WORK/serve-$1.out" 2>/dev/null | head -1 | cut -d' ' -f3 || true)"
        [ -n "$URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve-$1.err" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$URL" ] || { echo "api-fuzz: the server did not start" >&2; exit 1; }
    ADMIN_TOKEN="$(cat "$data/admin.token")"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

admin() { FIELDCASE_ADMIN_TOKEN="$ADMIN_TOKEN" "$BIN" --json admin --server "$URL" "$@"; }
device() {
    FIELDCASE_PASSPHRASE="api-fuzz passphrase, not for the field" \
        "$BIN" --json device --dir "$WORK/devices-$ROLE" --profile field --server "$URL" "$@"
}
json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

# Two agencies; in the first, a field device that records a case with a photo and refers it
# to the second (so ids of real cases, attachments, referrals, users and devices exist); and
# the token the role is tested with: of a user of that role in the first agency.
seed() {
    admin agency add iom_uga --name "IOM Uganda" >/dev/null
    admin agency add iom_eth --name "IOM Ethiopia" >/dev/null
    local field code user
    field="$(admin user add --agency iom_uga --role caseworker --name "Field worker" | json "['id']")"
    code="$(admin enroll-code --user "$field" | json "['code']")"
    device enroll --code "$code" --label "api-fuzz field phone" >/dev/null
    python3 - "$WORK/case-$ROLE.json" "$WORK/photo-$ROLE.png" <<'PY'
import json, struct, sys, zlib
case = {
    "given_name": "Fuzz", "family_name": "Seeded", "sex": "female", "nationality": "ETH",
    "country_of_assistance": "UGA", "intake_date": "2026-01-15",
    "categories": ["stranded_migrant"], "programme": "avrr",
    "consent": {"assistance": {"given": True, "date": "2026-01-15", "recorded_by": "cw-1"},
                "data_sharing": ["iom_eth"]},
}
json.dump(case, open(sys.argv[1], "w"))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
open(sys.argv[2], "wb").write(png)
PY
    CASE_ID="$(device add --file "$WORK/case-$ROLE.json" | json "['id']")"
    ATTACHMENT_ID="$(device attach "$CASE_ID" "$WORK/photo-$ROLE.png" | json "['id']")"
    REFERRAL_ID="$(device referral create "$CASE_ID" --to iom_eth --services shelter \
        --reason "needs a shelter place" --share sex,nationality | json "['id']")"
    device sync >/dev/null
    DEVICE_ID="$(admin device list | json "[0]['id']")"
    USER_ID="$field"
    case "$ROLE" in
        anonymous) TOKEN="" ;;
        system_admin) TOKEN="$ADMIN_TOKEN" ;;
        agency_admin) TOKEN="$(admin token add --agency iom_uga --label "api-fuzz agency admin" | json "['token']")" ;;
        supervisor | analyst)
            user="$(admin user add --agency iom_uga --role "$ROLE" --name "A $ROLE" | json "['id']")"
            TOKEN="$(admin token add --user "$user" --label "api-fuzz $ROLE" | json "['token']")"
            ;;
        caseworker)
            user="$(admin user add --agency iom_uga --role caseworker --name "A caseworker" | json "['id']")"
            code="$(admin enroll-code --user "$user" | json "['code']")"
            # Enrolled over the API itself: the device credential is what the phone would hold.
            TOKEN="$("$VENV/bin/python" - "$URL" "$code" <<'PY'
import json, sys, urllib.request
url, code = sys.argv[1:]
body = json.dumps({"code": code, "device_label": "api-fuzz phone"}).encode()
request = urllib.request.Request(
    f"{url}/v1/enroll", data=body, headers={"Content-Type": "application/json"}
)
print(json.load(urllib.request.urlopen(request))["credential"])
PY
)"
            ;;
    esac
}

# The run's configuration: the token (from the environment, never on a command line) and the
# seeded ids, used for half of the generated path parameters (the other half stays random, so
# unknown ids are still tried). Token ids are left random: a run must not revoke its own.
configure() {
    {
        if [ -n "$TOKEN" ]; then
            echo 'headers = { Authorization = "Bearer ${FIELDCASE_FUZZ_TOKEN}" }'
        fi
        echo '[dictionaries]'
        echo "agencies = { values = [\"iom_uga\", \"iom_eth\"] }"
        echo "cases = { values = [\"$CASE_ID\"] }"
        echo "attachments = { values = [\"$ATTACHMENT_ID\"] }"
        echo "referrals = { values = [\"$REFERRAL_ID\"] }"
        echo "users = { values = [\"$USER_ID\"] }"
        echo "devices = { values = [\"$DEVICE_ID\"] }"
        echo '[parameters]'
        echo '"path.code" = { dictionary = "agencies", probability = 0.5 }'
        echo '"path.case_id" = { dictionary = "cases", probability = 0.5 }'
        echo '"path.attachment_id" = { dictionary = "attachments", probability = 0.5 }'
        echo '"path.referral_id" = { dictionary = "referrals", probability = 0.5 }'
        echo '"path.user_id" = { dictionary = "users", probability = 0.5 }'
        echo '"path.device_id" = { dictionary = "devices", probability = 0.5 }'
    } >"$WORK/schemathesis-$ROLE.toml"
}

# Every route of the document must be in the role table, so a new route gets a decision.
"$VENV/bin/python" - server/src/http/openapi.json <<'EOF'
import json, sys
sys.path.insert(0, "scripts/api-fuzz")
import roles
document = json.load(open(sys.argv[1]))
known = set().union(*roles.ALLOWED.values()) | roles.SYSTEM_ADMIN_ONLY | roles.DUPLICATES | roles.DEVICE
missing = [
    f"{method.upper()} {path}"
    for path, item in document["paths"].items()
    for method in item
    if method in ("get", "put", "post", "delete", "patch")
    and f"{method.upper()} {path}" not in known
]
if missing:
    sys.exit(f"api-fuzz: routes missing from scripts/api-fuzz/roles.py: {missing}")
EOF

STATE="$(realpath -m "$TARGET/api-fuzz-state")"
mkdir -p "$STATE"
HOOKS="$(realpath scripts/api-fuzz/hooks.py)"
SEED_ARGS=()
[ -n "${FIELDCASE_FUZZ_SEED:-}" ] && SEED_ARGS=(--seed "$FIELDCASE_FUZZ_SEED")
FAILED=()
for ROLE in $ROLES; do
    start_server "$ROLE"
    seed
    configure
    printf '\n--- %s (%s examples per operation, at most %s s) ---\n' "$ROLE" "$EXAMPLES" "$SECONDS_PER_ROLE"
    # Rotating the admin token revokes the token the run is using: every later request would be
    # a 401. Its role rule is the same as every other admin route's (tested by the Rust tests).
    # Run from a directory under the target dir: Schemathesis keeps its cache of failures
    # (replayed first on the next run) in `.schemathesis/` of the working directory.
    if ! (cd "$STATE" && FIELDCASE_FUZZ_ROLE="$ROLE" FIELDCASE_FUZZ_TOKEN="$TOKEN" \
        SCHEMATHESIS_HOOKS="$HOOKS" \
        "$VENV_ABS/bin/schemathesis" --config-file "$WORK/schemathesis-$ROLE.toml" run "$URL/openapi.json" \
        --url "$URL" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,role_may_use_route \
        --phases examples,coverage,fuzzing \
        --max-examples "$EXAMPLES" \
        --max-time "$SECONDS_PER_ROLE" \
        --workers 1 \
        --exclude-path /v1/admin/tokens/rotate \
        --report junit --report-dir "$STATE/report/$ROLE" \
        "${SEED_ARGS[@]}" \
        --output-sanitize true); then
        FAILED+=("$ROLE")
    fi
    stop_server
done

if [ ${#FAILED[@]} -gt 0 ]; then
    echo "api-fuzz: failures for: ${FAILED[*]}" >&2
    exit 1
fi
echo "api-fuzz: every role passed"
