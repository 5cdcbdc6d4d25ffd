"""Renders the results of bench/headline.sh (one JSON object a line) as the headline table of
bench/README.md, with the date, the commit and the machine it was measured on.

usage: headline.py RESULTS.jsonl CASES ACCOUNTS SECONDS_PER
"""

import datetime
import json
import os
import subprocess
import sys


def main():
    path, cases, accounts, seconds = sys.argv[1:5]
    rows = [json.loads(l) for l in open(path) if l.strip()]

    def run(label, db, scenario, c):
        for r in rows:
            if (r.get("label"), r.get("db"), r.get("scenario"), r.get("c")) == (label, db, scenario, c):
                return r
        return None

    def rate(label, db, c):
        r = run(label, db, "create", c)
        return f"{r['throughput_per_s']:,.0f}/s (p99 {r['p99_ms']:.1f})" if r else "not measured"

    def lat(db, scenario, c):
        r = run("all", db, scenario, c)
        if not r:
            return "not measured"
        errors = f", {r['errors']} errors" if r["errors"] else ""
        return f"{r['p50_ms']:.2f} / {r['p99_ms']:.1f}{errors}"

    def rss(db, when):
        for r in rows:
            if (r.get("label"), r.get("db"), r.get("scenario")) == ("rss", db, when):
                return f"{r['kb'] / 1024:.1f} MiB"
        return "?"

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    cores = os.cpu_count()
    load = open("/proc/loadavg").read().split()[:3]
    today = datetime.date.today().isoformat()
    out = []
    out.append(
        f"Measured on {today}, commit {commit}{' with local changes' if dirty else ''}, by `bench/headline.sh`: "
        f"{cores} cores, load {' '.join(load)} at the end; {int(cases):,} generated cases in {int(accounts):,} accounts; "
        f"{seconds} s a scenario; the load client on the same cores as the server and the database. "
        "Creation is `POST /api/v1/cases` with every default feature on (acknowledgement email to the outbox, "
        "SLA clock, search index, audit entry). Latencies are p50 / p99 in ms."
    )
    out.append("")
    out.append("| | SQLite (WAL), c1 | SQLite, c16 | PostgreSQL, c1 | PostgreSQL, c16 |")
    out.append("|---|---|---|---|---|")
    out.append("| create | " + " | ".join(rate("all", db, c) for db in ("sqlite", "postgres") for c in (1, 16)) + " |")
    names = [
        ("get", "get a case (API)"),
        ("mine", "My cases, first page (API)"),
        ("queue", "agent queue, first page (API)"),
        ("ui-queue", "agent console, unassigned (web)"),
        ("ui-case", "customer case page (web)"),
        ("search", "search, My cases"),
        ("search-account", "search, an account's cases"),
        ("search-queue", "search, an agent's queues"),
        ("search-all", "search, all cases (manager)"),
    ]
    for key, name in names:
        out.append(f"| {name} | " + " | ".join(lat(db, key, c) for db in ("sqlite", "postgres") for c in (1, 16)) + " |")
    out.append(
        "| server RSS, idle after start / after the load | "
        + f"{rss('sqlite', 'idle after start')} / {rss('sqlite', 'idle after the load')} | | "
        + f"{rss('postgres', 'idle after start')} / {rss('postgres', 'idle after the load')} | |"
    )
    out.append("")
    nodes = [r for r in rows if r.get("label") == "two-nodes"]
    if nodes:
        total = sum(r["throughput_per_s"] for r in nodes)
        each = " + ".join(f"{r['throughput_per_s']:,.0f}/s" for r in nodes)
        worst = max(r["p99_ms"] for r in nodes)
        errors = sum(r["errors"] for r in nodes)
        out.append(
            f"- Two PostgreSQL nodes on one database, creating at c8 each: **{total:,.0f}/s** ({each}; p99 up to {worst:.1f} ms, {errors} errors)."
        )
    for db, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        parts = []
        for c in (1, 16):
            on, off = run("all", db, "create", c), run("nomail", db, "create", c)
            if on and off:
                cost = 1 - on["throughput_per_s"] / off["throughput_per_s"]
                parts.append(f"c{c}: {on['throughput_per_s']:,.0f}/s with, {off['throughput_per_s']:,.0f}/s without (email takes {cost:.0%} of the rate)")
        if parts:
            out.append(f"- What email costs creation on {name} (`[mail] transport = \"off\"` for without): " + "; ".join(parts) + ".")
    out.append(
        "- The search index, the SLA clock and the audit entry have no switch: their costs were measured "
        "when each came (see the sections below)."
    )
    print("\n".join(out))


if __name__ == "__main__":
    main()
