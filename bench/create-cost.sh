#!/usr/bin/env bash
# What a change costs case creation: builds BASE (a git revision) and the working tree in
# release mode, and for each, in alternating rounds, fills a fresh database with the same
# data, starts the server and measures `POST /api/v1/cases` at concurrency 1 and 16.
#
#   bash bench/create-cost.sh b5187c4            # SQLite (WAL) in temporary folders
#   PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres bash bench/create-cost.sh b5187c4
#
# Tunables (environment): ROUNDS (2), SECONDS_PER (15), CASES (20000), ACCOUNTS (200),
# SCENARIOS ("create"; any of `casedesk-bench load`'s, e.g. "get mine queue create" to compare
# reads too: reads first, so both builds read the same data).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${1:?usage: create-cost.sh BASE_REVISION}"
ROUNDS="${ROUNDS:-2}"
SECONDS_PER="${SECONDS_PER:-15}"
CASES="${CASES:-20000}"
ACCOUNTS="${ACCOUNTS:-200}"
SCENARIOS="${SCENARIOS:-create}"

BASE_DIR="${BASE_DIR:-/tmp/casedesk-base-$BASE}"
if [ ! -d "$BASE_DIR" ]; then git worktree add -q "$BASE_DIR" "$BASE"; fi
(cd "$BASE_DIR" && CARGO_TARGET_DIR="${BASE_TARGET:-/tmp/casedesk-base-target}" cargo build -q --release -p casedesk -p casedesk-bench)
cargo build -q --release -p casedesk -p casedesk-bench
declare -A BIN=([base]="${BASE_TARGET:-/tmp/casedesk-base-target}/release" [new]="target/release")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"

one() {
    local which=$1 bin=${BIN[$1]} work url
    work="$(mktemp -d /tmp/casedesk-cost.XXXXXX)"
    if [ -n "${PG_ADMIN:-}" ]; then
        local db="casedesk_cost_$(date +%s%N)"
        psql -q "$PG_ADMIN" -c "CREATE DATABASE $db" >/dev/null
        url="${PG_ADMIN%/*}/$db"
    else
        url="sqlite://$work/casedesk.db"
    fi
    "$bin/casedesk-bench" generate --database-url "$url" --accounts "$ACCOUNTS" --cases "$CASES" \
        --out "$work/data.json" >/dev/null
    # One load client on one address: the request budgets would only measure themselves.
    CASEDESK_RATE_LIMITS__ENABLED=false "$bin/casedesk" serve --listen 127.0.0.1:0 --database-url "$url" --data "$work" \
        >"$work/server.out" 2>"$work/server.err" &
    local pid=$!
    for _ in $(seq 1 100); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
    local base_url
    base_url="$(sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$work/server.out")"
    sleep 1
    for scenario in $SCENARIOS; do
        for c in 1 16; do
            printf '%s %-6s c%-2s ' "$which" "$scenario" "$c"
            "$bin/casedesk-bench" load --base "$base_url" --data "$work/data.json" --scenario "$scenario" \
                --concurrency "$c" --seconds "$SECONDS_PER"
        done
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}

# The order alternates: the second run of a round meets the first one's leftovers (dirty
# pages being written back, a warmer or cooler machine), and that must not favour one side.
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then one base; one new; else one new; one base; fi
done
