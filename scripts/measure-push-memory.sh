#!/usr/bin/env bash
# Peak memory of a real `fieldcase serve` under concurrent zstd-bomb pushes (security issue,
# item 2): one enrolled device sends N bodies at once, each a few KB of zstd whose JSON is
# `[0,0,0,…]` as one case field value, MIB mebibytes of it. Prints the replies' status codes
# and the server's VmHWM (peak resident set) from /proc. Loopback only; stops by itself.
#
# usage: scripts/measure-push-memory.sh PATH/TO/fieldcase [MIB=60] [N=16]
#        MIB=spread: instead, the largest body the bounds let through: 8 operations of 16 form
#        answers, each a list of 2 000 zeros (every value, operation and body bound just met).
# Careful with old builds (before bounded decoding): each body then costs ~17x MIB in memory.
set -euo pipefail
bin=${1:?path to the fieldcase binary}
mib=${2:-60}
n=${3:-16}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)
token=$(tr -d '\n' <"$work/data/admin.token")
call() { curl -sS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
call -X POST "$url/v1/admin/agencies" -d '{"code":"iom_uga","name":"IOM"}' >/dev/null
user=$(call -X POST "$url/v1/admin/users" \
    -d '{"agency":"iom_uga","role":"caseworker","display_name":"Staff"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
code=$(call -X POST "$url/v1/admin/users/$user/enrollment-codes" -d '{}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
enrolled=$(curl -sS -H 'Content-Type: application/json' -X POST "$url/v1/enroll" \
    -d "{\"code\":\"$code\",\"device_label\":\"load\"}")
device=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["device_id"])' "$enrolled")
credential=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["credential"])' "$enrolled")

python3 - "$device" "$mib" <<'EOF' | zstd -19 -q -c >"$work/bomb.zst"
import sys, time, uuid
device, mib = sys.argv[1], sys.argv[2]
out = sys.stdout
if mib == "spread":
    zeros = "[" + ",".join(["0"] * 2000) + "]"
    ops = []
    for seq in range(1, 9):
        fields = ",".join('"answers.a%d":{"v":%s}' % (i, zeros) for i in range(16))
        ops.append('{"op_id":{"d":"%s","s":%d},"kind":"case","record_id":"%s",'
                   '"hlc":{"w":%d,"c":0,"d":"%s"},"fields":{%s}}'
                   % (device, seq, uuid.uuid4(), int(time.time() * 1000), device, fields))
    out.write('{"protocol":1,"cursor":null,"ops":[%s]}' % ",".join(ops))
    sys.exit(0)
mib = int(mib)
out.write('{"protocol":1,"cursor":null,"ops":[{"op_id":{"d":"%s","s":1},"kind":"case",'
          '"record_id":"%s","hlc":{"w":%d,"c":0,"d":"%s"},"fields":{"sex":{"v":['
          % (device, uuid.uuid4(), int(time.time() * 1000), device))
chunk = "0," * (512 * 1024)
for _ in range(mib):
    out.write(chunk)
out.write('0]}}}]}')
EOF
echo "body: $(stat -c %s "$work/bomb.zst") bytes of zstd (${mib}); $n at once"
grep VmRSS "/proc/$pid/status"
for i in $(seq "$n"); do
    curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$url/v1/sync" \
        -H "Authorization: Bearer $credential" \
        -H 'Content-Type: application/vnd.fieldcase+json+zstd' \
        --data-binary @"$work/bomb.zst" >"$work/status.$i" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
echo "statuses: $(cat "$work"/status.* | sort | uniq -c | tr '\n' ' ')"
grep -E 'VmHWM|VmRSS' "/proc/$pid/status"
