#!/usr/bin/env bash
# The headline table of bench/README.md, measured on the current build: SQLite and
# PostgreSQL (creation, get, lists, web pages, search, resident memory), two PostgreSQL nodes
# creating at once, and what email costs creation. Writes the table, with the date, the
# commit and the machine's state, between the `headline` markers of bench/README.md.
#
#   PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres bash bench/headline.sh
#
# PG_ADMIN names a PostgreSQL server where the script may create its databases.
# Tunables: CASES (100000), ACCOUNTS (500), SECONDS_PER (10), NO_WRITE=1 (print only).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PG_ADMIN:?set PG_ADMIN=postgres://user@host:port/postgres (databases are created there)}"
CASES="${CASES:-100000}"
ACCOUNTS="${ACCOUNTS:-500}"
SECONDS_PER="${SECONDS_PER:-10}"

cargo build -q --release -p casedesk -p casedesk-bench
WORK="$(mktemp -d /tmp/casedesk-headline.XXXXXX)"
OUT="$WORK/results.jsonl"
trap 'for f in "$WORK"/*.pid; do kill "$(cat "$f")" 2>/dev/null || true; done' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load: $(cut -d' ' -f1-3 /proc/loadavg); work folder $WORK"

# Starts a server on database $2 with data folder $3 (and any VAR=value after); prints its URL.
serve() {
    local name=$1 url=$2 dir=$3; shift 3
    mkdir -p "$dir"
    env CASEDESK_RATE_LIMITS__ENABLED=false "$@" target/release/casedesk serve --listen 127.0.0.1:0 \
        --database-url "$url" --data "$dir" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    for _ in $(seq 1 300); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
    sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$WORK/$name.out"
}

# Records one load run: label, database, data file, base URL, scenario, concurrency.
record() {
    local label=$1 db=$2 data=$3 base=$4 scenario=$5 c=$6 line
    line="$(target/release/casedesk-bench load --base "$base" --data "$data" --scenario "$scenario" \
        --concurrency "$c" --seconds "$SECONDS_PER")"
    echo "$label $db $scenario c$c $line"
    python3 -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(label=sys.argv[1], db=sys.argv[2], c=int(sys.argv[3])); print(json.dumps(d))' \
        "$label" "$db" "$c" "$line" >>"$OUT"
}

rss() { echo "{\"label\": \"rss\", \"db\": \"$1\", \"scenario\": \"$2\", \"kb\": $(ps -o rss= -p "$3")}" >>"$OUT"; }

# One database: generate, every read scenario, creation, memory; then creation with mail off.
measure() {
    local db=$1 url=$2 par=$3 dir="$WORK/$1" base pid
    mkdir -p "$dir"
    /usr/bin/time -f "$db generate: %e s" target/release/casedesk-bench generate --database-url "$url" \
        --accounts "$ACCOUNTS" --cases "$CASES" --out "$dir/data.json" --parallel "$par" >/dev/null
    base="$(serve "$db" "$url" "$dir/server")"
    pid="$(cat "$WORK/$db.pid")"
    sleep 2
    rss "$db" "idle after start" "$pid"
    for scenario in get mine queue ui-queue ui-case search search-account search-queue search-all create; do
        for c in 1 16; do record all "$db" "$dir/data.json" "$base" "$scenario" "$c"; done
    done
    sleep 5
    rss "$db" "idle after the load" "$pid"
    kill "$pid"; sleep 2
    # What email costs creation: the acknowledgement (written with its job by the fan-out,
    # sent to the outbox) against mail off, on the same database.
    base="$(serve "$db-nomail" "$url" "$dir/nomail" CASEDESK_MAIL__TRANSPORT=off)"
    pid="$(cat "$WORK/$db-nomail.pid")"
    sleep 1
    for c in 1 16; do record nomail "$db" "$dir/data.json" "$base" create "$c"; done
    kill "$pid"; sleep 2
}

measure sqlite "sqlite://$WORK/sqlite/casedesk.db" 1
PGDB="casedesk_headline_$(date +%s)"
psql -q "$PG_ADMIN" -c "CREATE DATABASE $PGDB"
PG_URL="${PG_ADMIN%/*}/$PGDB"
measure postgres "$PG_URL" 4

# Two nodes on the PostgreSQL database, creating at once (c8 each).
BA="$(serve node-a "$PG_URL" "$WORK/node-a")"
BB="$(serve node-b "$PG_URL" "$WORK/node-b")"
record two-nodes postgres "$WORK/postgres/data.json" "$BA" create 8 &
record two-nodes postgres "$WORK/postgres/data.json" "$BB" create 8
wait
for n in node-a node-b; do kill "$(cat "$WORK/$n.pid")" 2>/dev/null || true; done
psql -q "$PG_ADMIN" -c "DROP DATABASE $PGDB WITH (FORCE)" || true

python3 bench/headline.py "$OUT" "$CASES" "$ACCOUNTS" "$SECONDS_PER" >"$WORK/headline.md"
cat "$WORK/headline.md"
if [ -z "${NO_WRITE:-}" ]; then
    python3 - "$WORK/headline.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read()
path = "bench/README.md"
s = open(path).read()
start, end = "<!-- headline:start -->", "<!-- headline:end -->"
if start not in s or end not in s:
    sys.exit("bench/README.md has no headline markers")
s = s[: s.index(start) + len(start)] + "\n" + table + s[s.index(end):]
open(path, "w").write(s)
print("bench/README.md: headline table written")
EOF
fi
