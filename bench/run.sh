#!/usr/bin/env bash
# Fills a fresh database with ACCOUNTS accounts and CASES cases, starts a release build of
# casedesk on it, and measures create throughput (concurrency 1 and 16), get / My cases /
# agent queue latency, case search (My cases, an account, an agent's queues, all cases), the
# web pages (agent queue, customer case page, agent workspace) and
# the weight of their stylesheet and script, and the server's resident memory at idle.
#
#   bash bench/run.sh                         # SQLite (WAL) in a temporary data folder
#   bash bench/run.sh postgres://u@h/emptydb  # PostgreSQL; the database must be empty
#
# Tunables (environment): CASES (1000000), ACCOUNTS (1000), SECONDS_PER (20).
set -euo pipefail
cd "$(dirname "$0")/.."
DB_URL="${1:-}"
CASES="${CASES:-1000000}"
ACCOUNTS="${ACCOUNTS:-1000}"
SECONDS_PER="${SECONDS_PER:-20}"

cargo build --release -p casedesk -p casedesk-bench
WORK="$(mktemp -d /tmp/casedesk-bench.XXXXXX)"
if [ -z "$DB_URL" ]; then DB_URL="sqlite://$WORK/casedesk.db"; PAR=1; else PAR=4; fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "database: ${DB_URL%%\?*}  (work folder $WORK)"

/usr/bin/time -f "generate: %e s wall, %M KB peak RSS" \
    target/release/casedesk-bench generate --database-url "$DB_URL" --accounts "$ACCOUNTS" --cases "$CASES" \
    --out "$WORK/data.json" --parallel "$PAR"

CASEDESK_RATE_LIMITS__ENABLED=false target/release/casedesk serve --listen 127.0.0.1:0 --database-url "$DB_URL" --data "$WORK" \
    >"$WORK/server.out" 2>"$WORK/server.err" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
BASE="$(sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$WORK/server.out")"
sleep 2
echo "server RSS at idle after start: $(ps -o rss= -p $PID) KB"

run() { target/release/casedesk-bench load --base "$BASE" --data "$WORK/data.json" --seconds "$SECONDS_PER" "$@"; }
for c in 1 16; do
    run --scenario get --concurrency $c
    run --scenario mine --concurrency $c
    run --scenario queue --concurrency $c
done
for c in 1 16; do
    for s in search search-account search-queue search-all; do run --scenario $s --concurrency $c; done
done
for c in 1 16; do
    run --scenario ui-queue --concurrency $c
    run --scenario ui-case --concurrency $c
    run --scenario ui-workspace --concurrency $c
done
target/release/casedesk-bench asset-weight --base "$BASE" \
    --session "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manager_session"])' "$WORK/data.json")" \
    --path /auth/login --path /kb --path /status --path /console --path /manage/reports
run --scenario create --concurrency 1
run --scenario create --concurrency 16
sleep 5
echo "server RSS at idle after the load: $(ps -o rss= -p $PID) KB"
