#!/usr/bin/env bash
# Lists and searches on a database where most cases came through the API (issue 27's last
# condition: queue and search p99 on PostgreSQL after 50,000 creates through the API).
#
#   PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres bash bench/after-burst.sh
#   bash bench/after-burst.sh          # the same on SQLite, in a temporary folder
#
# Generates CASES (20000) cases over ACCOUNTS (200) accounts, creates BURST (50000) more through
# the API at concurrency 16 (all in one queue, with the same words: the agents who search work
# that queue or others, so searches meet both a flooded queue and ones the burst left), runs
# ANALYZE, restarts the server (cold statement caches, as after a deploy), then runs each list
# and search scenario at concurrency 1 and 4 for SECONDS_PER (6) s. Prints one line per run:
# scenario, concurrency, p50 and p99 in ms. The client shares the machine with the server.
# KEEP=1 keeps the database (and the work folder) for a closer look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-20000}"; ACCOUNTS="${ACCOUNTS:-200}"; BURST="${BURST:-50000}"
SECONDS_PER="${SECONDS_PER:-6}"
cargo build -q --release -p casedesk -p casedesk-bench
WORK="$(mktemp -d /tmp/casedesk-burst.XXXXXX)"
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept: ${PGDB:-$WORK}"; return; fi
    [ -n "${PGDB:-}" ] && psql -q "$PG_ADMIN" -c "DROP DATABASE $PGDB WITH (FORCE)" 2>/dev/null || true
}
trap cleanup EXIT
if [ -n "${PG_ADMIN:-}" ]; then
    PGDB="casedesk_burst_$$"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $PGDB"
    URL="${PG_ADMIN%/*}/$PGDB"; PAR=4
    count() { psql -Atq "$URL" -c "SELECT count(*) FROM cases"; }
    analyze() { psql -q "$URL" -c "ANALYZE"; }
    waiting() { psql -Atq "$URL" -c "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') AND run_at <= (extract(epoch FROM now()) * 1000000)::bigint"; }
else
    URL="sqlite://$WORK/casedesk.db"; PAR=1
    count() { sqlite3 "$WORK/casedesk.db" "SELECT count(*) FROM cases"; }
    analyze() { sqlite3 "$WORK/casedesk.db" "ANALYZE"; }
    waiting() { sqlite3 "$WORK/casedesk.db" "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running') AND run_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000000"; }
fi
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD); $([ -n "${PG_ADMIN:-}" ] && echo PostgreSQL || echo SQLite)"
target/release/casedesk-bench generate --database-url "$URL" --accounts "$ACCOUNTS" \
    --cases "$CASES" --out "$WORK/data.json" --parallel "$PAR" >/dev/null

serve() {
    mkdir -p "$WORK/data"
    CASEDESK_RATE_LIMITS__ENABLED=false target/release/casedesk serve --listen 127.0.0.1:0 \
        --database-url "$URL" --data "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    for _ in $(seq 1 300); do grep -q "listening on" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
    BASE="$(sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$WORK/out")"
    [ -n "$BASE" ] || { echo "the server did not start: $(cat "$WORK/err")" >&2; exit 1; }
    : >"$WORK/out"
}
load() {
    target/release/casedesk-bench load --base "$BASE" --data "$WORK/data.json" "$@"
}

serve
start=$(count)
while [ "$(( $(count) - start ))" -lt "$BURST" ]; do
    load --scenario create --concurrency 16 --seconds 20 >/dev/null
done
echo "created through the API: $(( $(count) - start )) (cases now $(count))"
# The burst's messages are sent before anything is timed, so no run shares the machine with them.
while [ "$(waiting)" -gt 0 ]; do sleep 1; done
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
analyze
serve
sleep 5
for c in 1 4; do
    for s in queue ui-queue search search-account search-queue search-all; do
        load --scenario "$s" --concurrency "$c" --seconds "$SECONDS_PER" |
            python3 -c 'import json,sys; d=json.load(sys.stdin); print("%-15s c%s  p50 %6.2f ms  p99 %6.2f ms  %6.0f/s  errors %d" % (sys.argv[1], sys.argv[2], d["p50_ms"], d["p99_ms"], d["throughput_per_s"], d["errors"]))' "$s" "$c"
    done
done
