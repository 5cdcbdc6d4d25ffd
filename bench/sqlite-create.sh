#!/usr/bin/env bash
# Case creation on SQLite with every default feature on (acknowledgement to the outbox, SLA
# clock, search index, audit entry): ROUNDS rounds, each on a fresh copy of one generated
# database, creating at concurrency 1 and then 16. After each round it prints what the
# creation left for the background (jobs not yet done) and how long that took to drain, so
# a rate bought by deferring work shows.
#
#   bash bench/sqlite-create.sh
#
# Tunables: CASES (20000), ACCOUNTS (200), SECONDS_PER (8), ROUNDS (3). To compare builds,
# BINS names several server binaries (say, copies of target/release/casedesk built from two
# commits); each round then runs each of them in turn, on its own fresh copy.
#
#   BINS="/tmp/casedesk-before /tmp/casedesk-after" bash bench/sqlite-create.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-20000}"
ACCOUNTS="${ACCOUNTS:-200}"
SECONDS_PER="${SECONDS_PER:-8}"
ROUNDS="${ROUNDS:-3}"
BINS="${BINS:-target/release/casedesk}"

cargo build -q --release -p casedesk -p casedesk-bench
WORK="$(mktemp -d /tmp/casedesk-sqlite-create.XXXXXX)"
trap '[ -f "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null || true' EXIT
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); work folder $WORK"
mkdir -p "$WORK/base"
target/release/casedesk-bench generate --database-url "sqlite://$WORK/base/casedesk.db" \
    --accounts "$ACCOUNTS" --cases "$CASES" --out "$WORK/data.json" --parallel 1 >/dev/null
# A copy needs the log folded in first.
python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA wal_checkpoint(TRUNCATE)")' \
    "$WORK/base/casedesk.db"

jobs_left() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM jobs WHERE kind IN (?, ?)", ("case.event", "mail.send")).fetchone()[0])' \
        "$1/casedesk.db"
}

for round in $(seq 1 "$ROUNDS"); do
  for bin in $BINS; do
    label="round $round"
    [ "$BINS" = "target/release/casedesk" ] || label="round $round $bin"
    # Each run in a folder of its own; earlier ones are kept, not deleted, because ext4
    # is slow to hand out inodes just freed and the outbox writes one file per message.
    dir="$WORK/run$round-$(basename "$bin")"
    mkdir -p "$dir"
    cp "$WORK/base/casedesk.db" "$dir/"
    CASEDESK_RATE_LIMITS__ENABLED=false "$bin" serve --listen 127.0.0.1:0 \
        --database-url "sqlite://$dir/casedesk.db" --data "$dir" >"$dir/server.out" 2>"$dir/server.err" &
    echo $! >"$WORK/pid"
    for _ in $(seq 1 300); do grep -q "listening on" "$dir/server.out" 2>/dev/null && break; sleep 0.1; done
    base="$(sed -n 's/^casedesk listening on \([^ ]*\).*/\1/p' "$dir/server.out")"
    sleep 1
    for c in 1 16; do
        echo "$label: $(target/release/casedesk-bench load --base "$base" --data "$WORK/data.json" \
            --scenario create --concurrency "$c" --seconds "$SECONDS_PER")"
        start=$(date +%s.%N)
        left=$(jobs_left "$dir")
        while [ "$(jobs_left "$dir")" -gt 0 ]; do sleep 0.2; done
        echo "$label c$c: $left jobs left at the end, drained in $(python3 -c "import time,sys; print(round(time.time()-float(sys.argv[1]),1))" "$start") s"
    done
    kill "$(cat "$WORK/pid")"; wait "$(cat "$WORK/pid")" 2>/dev/null || true
  done
done
