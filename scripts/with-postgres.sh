#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL of its own:
#
#   scripts/with-postgres.sh cargo test -p fieldcase-server
#
# Installs Debian's `postgresql` package when `initdb`/`pg_ctl` are missing, creates a cluster
# in a temporary directory (as the `postgres` user when run as root: PostgreSQL refuses to run
# as root), starts it listening only on a unix socket inside that directory (no port to
# collide with), exports FIELDCASE_TEST_DATABASE_URL for the command, and stops and removes
# everything when the command ends, however it ends. The command's exit status is the
# script's. Tests create their own database from that URL, so they run in parallel.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

newest_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bindir=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    bindir="$(dirname "$(readlink -f "$(command -v initdb)")")"
else
    bindir="$(newest_bindir || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "==> installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir="$(newest_bindir)"
fi

# PostgreSQL will not run as root: run it as `postgres` (the package's user), creating a
# system user of that name when the binaries came without one.
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    as_db() { runuser -u postgres -- "$@"; }
else
    as_db() { "$@"; }
fi

dir="$(mktemp -d /tmp/fieldcase-pg.XXXXXX)"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
cleanup() {
    as_db "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# Trust authentication is safe here: the only way in is the socket in a directory only the
# database user (and root) can enter. fsync is off: the cluster is thrown away afterwards.
as_db "$bindir/initdb" -D "$dir/data" -U fieldcase -A trust -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
chmod 700 "$dir"
as_db "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=300 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }

export FIELDCASE_TEST_DATABASE_URL="postgresql://fieldcase@${dir//\//%2F}/postgres"
echo "==> throwaway PostgreSQL ($("$bindir/pg_ctl" --version)) on a socket in $dir" >&2

status=0
"$@" || status=$?
exit "$status"
