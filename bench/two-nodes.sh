#!/usr/bin/env bash
# Two casedesk nodes on one PostgreSQL: creation on both at once, then one node stopped
# (SIGSTOP) in the middle of its load while the other keeps creating.
#
#   bash bench/two-nodes.sh postgres://u@h/db DATA.json   # DATA from `casedesk-bench generate`
#
# Prints one JSON line per load (node A, node B) for the run on both, then node B's line
# while A is stopped for STOP_SECONDS (10), and the parked audit entries left at the end.
# Tunables: SECONDS_PER (20), CONCURRENCY per node (8). Expects a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL="$1"; DATA="$2"
SECONDS_PER="${SECONDS_PER:-20}"; CONCURRENCY="${CONCURRENCY:-8}"; STOP_SECONDS="${STOP_SECONDS:-10}"
WORK="$(mktemp -d /tmp/casedesk-nodes.XXXXXX)"
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
start() {
    mkdir -p "$WORK/$1"
    CASEDESK_RATE_LIMITS__ENABLED=false target/release/casedesk serve --listen 127.0.0.1:0 \
        --database-url "$DB_URL" --data "$WORK/$1" >"$WORK/$1.out" 2>"$WORK/$1.err" &
    echo $!
}
A=$(start a); B=$(start b)
trap 'kill -CONT $A 2>/dev/null; kill $A $B 2>/dev/null || true' EXIT
base() {
    for _ in $(seq 1 100); do grep -q "listening on" "$WORK/$1.out" 2>/dev/null && break; sleep 0.1; done
    sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$WORK/$1.out"
}
BA=$(base a); BB=$(base b)
load() { target/release/casedesk-bench load --base "$1" --data "$DATA" --scenario create --concurrency "$CONCURRENCY" --seconds "$2"; }
echo "both nodes creating, c$CONCURRENCY each:"
load "$BA" "$SECONDS_PER" & load "$BB" "$SECONDS_PER"; wait %1 2>/dev/null || true
echo "node A creating, then stopped for ${STOP_SECONDS}s; node B creating meanwhile:"
load "$BA" "$((STOP_SECONDS + 4))" >/dev/null 2>&1 &
sleep 2; kill -STOP "$A"
load "$BB" "$STOP_SECONDS"
kill -CONT "$A"; wait || true
echo "parked audit entries now: $(psql "$DB_URL" -Atc 'SELECT COUNT(*) FROM audit_pending' 2>/dev/null || echo '?')"
