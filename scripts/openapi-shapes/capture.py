#!/usr/bin/env python3
"""Capture real request/response samples from a demo casedesk server.

Starts `casedesk serve --demo` ($CASEDESK_BIN, by default the workspace's debug build) on a
fresh data directory, reads the demo credentials it prints, calls every documented operation
with valid requests (several times where the answer varies), and writes every exchange to the
file named as its argument (samples.json beside this script by default).

Standard library only.
"""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get(
    "CASEDESK_BIN", os.path.join(HERE, "..", "..", "target", "debug", "casedesk")
)
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "samples.json")
LISTEN = "127.0.0.1:18700"
BASE = f"http://{LISTEN}"

ROLES = {
    "owner@eastwind.example": "owner",  # customer super admin
    "ops@eastwind.example": "ops",  # customer case admin
    "secops@eastwind.example": "secops",
    "viewer@eastwind.example": "viewer",
    "ops@cobalt.example": "cobalt_ops",
    "ana.agent@casedesk.example": "agent",
    "kai.agent@casedesk.example": "agent2",
    "mia.manager@casedesk.example": "manager",  # admin + mail:ingest scopes
}

SAMPLES = []
TOKENS = {}


# --------------------------------------------------------------------------- server

def start_server():
    data = tempfile.mkdtemp(prefix="casedesk-capture-")
    env = dict(os.environ)
    env["CASEDESK_RATE_LIMITS__ENABLED"] = "false"
    # Our border's name, so the sender checks of received mail answer with real verdicts.
    env["CASEDESK_MAIL__AUTHSERV_ID"] = "mx.casedesk.example"
    err = open(os.path.join(HERE, "server.stderr.log"), "wb")
    proc = subprocess.Popen(
        [BINARY, "serve", "--demo", "--data", data, "--listen", LISTEN],
        stdout=subprocess.PIPE,
        stderr=err,
        env=env,
        text=True,
        bufsize=1,
    )
    lines = []
    deadline = time.time() + 120
    while True:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise SystemExit("server exited early:\n" + "".join(lines))
            if time.time() > deadline:
                raise SystemExit("server did not start in time")
            continue
        lines.append(line)
        if line.startswith("casedesk listening on"):
            break

    # Keep draining stdout so the server never blocks on a full pipe.
    def drain():
        for _ in proc.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()
    creds = parse_credentials(lines)
    return proc, data, creds, lines


def parse_credentials(lines):
    creds = {}
    current = None
    for line in lines:
        m = re.match(r"^  (\S+@\S+)\s+(.*)$", line.rstrip("\n"))
        if m:
            current = m.group(1)
            creds[current] = {"what": m.group(2).strip()}
            continue
        m = re.match(r"^\s+password\s+(\S+)", line)
        if m and current:
            creds[current]["password"] = m.group(1)
            continue
        m = re.match(r"^\s+token\s+(cdk_\S+)", line)
        if m and current:
            creds[current]["token"] = m.group(1)
    return creds


# --------------------------------------------------------------------------- HTTP

def parse_body(ctype, raw):
    text = raw.decode("utf-8", errors="replace")
    base = (ctype or "").split(";")[0].strip().lower()
    if base == "application/json" or (base.startswith("application/") and base.endswith("+json")):
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            return text[:200]
    return text[:200]


def call(method, template, path, role=None, body=None, *, raw=None, content_type=None,
         query=None, record=True, note=None):
    """One exchange; recorded into SAMPLES. Returns (status, parsed response, headers)."""
    url = BASE + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    headers = {"Accept": "application/json"}
    data = None
    request_body = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        request_body = body
    elif raw is not None:
        data = raw
        headers["Content-Type"] = content_type or "application/octet-stream"
    if role and role != "anonymous":
        headers["Authorization"] = "Bearer " + TOKENS[role]
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            status = res.status
            rh = res.headers
            payload = res.read()
    except urllib.error.HTTPError as e:
        status = e.code
        rh = e.headers
        payload = e.read()
    ctype = rh.get("Content-Type", "")
    parsed = parse_body(ctype, payload)
    if record:
        s = {
            "method": method,
            "template": template,
            "path": path + (("?" + urllib.parse.urlencode(query)) if query else ""),
            "role": role or "anonymous",
            "request_body": request_body,
            "status": status,
            "content_type": ctype,
            "response": parsed,
        }
        if note:
            s["note"] = note
        SAMPLES.append(s)
    mark = "ok " if 200 <= status < 300 else "ERR"
    print(f"{mark} {status} {method} {path} as {role or 'anonymous'}", flush=True)
    if not (200 <= status < 300):
        print("     ", json.dumps(parsed)[:400], flush=True)
    return status, parsed, rh


def multipart(files, fields=None):
    boundary = "----capture" + uuid.uuid4().hex
    out = []
    for name, value in (fields or {}).items():
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode())
        out.append(value.encode() if isinstance(value, str) else value)
        out.append(b"\r\n")
    for fname, ctype, content in files:
        out.append(
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{fname}\"\r\n"
             f"Content-Type: {ctype}\r\n\r\n").encode()
        )
        out.append(content)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def ago(hours):
    t = time.time() - hours * 3600
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def in_days(days):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * 86400))


def b64url(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode() if not isinstance(obj, bytes) else obj
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def eastwind_case(subject, **over):
    """testkit `acme_case`, adapted to the demo's Eastwind Airlines (tenant eastwind-prod)."""
    body = {
        "priority": "P2",
        "subject": subject,
        "description": "Users get invalid_request after the redirect (error AUTH-4001).",
        "steps_to_reproduce": "Sign in from the portal",
        "tenant": "eastwind-prod",
        "issue_area": "sign-in-and-redirects",
        "scope": "some_users",
        "business_impact": "Some customers cannot log in",
        "contact": {"email": "ops@eastwind.example", "phone": "+1 555 0100 200",
                    "timezone": "America/New_York"},
        "stage": "onboarding",
        "identifiers": {
            "organization_id": "org_eastwind_01", "application_key": "app_eastwind_portal",
            "client_purpose": "interactive_web",
            "redirect_uri": "https://portal.eastwind.example/callback",
            "error_message": "redirect_uri_mismatch", "occurred_at": ago(2),
        },
        "context": {"correlation_id": "corr-1", "token_flow": "authorization_code",
                    "endpoint_path": "/oauth2/authorize", "frequency": "intermittent",
                    "affected": "some"},
        "checklist": {"tenant_registered": True, "application_key_verified": True,
                      "redirect_uris_exact": False, "credentials_out_of_source": True,
                      "jwks_validation": True, "marketplace_identifiers": False},
    }
    body.update(over)
    return body


def wait_until(what, fn, timeout=60, every=1.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    print(f"     (gave up waiting for {what})", flush=True)
    return None


# --------------------------------------------------------------------------- scenario

def scenario():
    T = {}  # things learned along the way

    # ---- meta
    call("GET", "/healthz", "/healthz")
    call("GET", "/api/v1/intake", "/api/v1/intake", "ops")
    call("GET", "/api/v1/intake", "/api/v1/intake", "manager")

    # ---- cases: existing demo cases and a new one
    st, cases, _ = call("GET", "/api/v1/cases", "/api/v1/cases", "manager", query={"limit": 100})
    items = cases.get("items", []) if isinstance(cases, dict) else []
    by_tenant = {}
    for c in items:
        by_tenant.setdefault(c["tenant"], []).append(c)
    east = by_tenant.get("eastwind-prod", [])
    T["east_by_status"] = {c["status"]: c["number"] for c in east}
    print("eastwind demo cases:", T["east_by_status"], flush=True)

    # Empty lists first (before anything is created).
    call("GET", "/api/v1/sla/calendars", "/api/v1/sla/calendars", "manager")
    call("GET", "/api/v1/webhooks", "/api/v1/webhooks", "manager")
    call("GET", "/api/v1/webhooks", "/api/v1/webhooks", "owner")
    call("GET", "/api/v1/notices", "/api/v1/notices", "manager")
    call("GET", "/api/v1/notices", "/api/v1/notices", "owner")
    call("GET", "/api/v1/status/subscription", "/api/v1/status/subscription", "ops",
         note="no subscription yet")
    call("GET", "/api/v1/status", "/api/v1/status", "anonymous")
    call("GET", "/api/v1/status", "/api/v1/status", "anonymous", query={"history": "true"})
    call("GET", "/api/v1/status/active", "/api/v1/status/active", "ops",
         query={"tenant": "eastwind-prod"})
    call("GET", "/api/v1/reports/deflection", "/api/v1/reports/deflection", "manager")
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager")

    st, case, _ = call("POST", "/api/v1/cases", "/api/v1/cases", "ops",
                       eastwind_case("Sign-in fails after redirect"))
    n = case["number"]
    T["n"] = n

    # Jobs the new case queued (acknowledgement mail): one may be running right now.
    st, jl, _ = call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"state": "running"})
    for j in ((jl or {}).get("items") or [])[:1] if isinstance(jl, dict) else []:
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{j['id']}", "manager", note="running")

    # ---- case SLA, explain, mail, incidents on several cases
    sla_cases = [(n, "ops"), (n, "manager")]
    for status_name, num in T["east_by_status"].items():
        sla_cases.append((num, "manager"))
    for tenant in ("cobalt-prod", "birchwood-prod"):
        for c in by_tenant.get(tenant, [])[:3]:
            sla_cases.append((c["number"], "manager"))
    seen = set()
    for num, role in sla_cases:
        if (num, role) in seen:
            continue
        seen.add((num, role))
        call("GET", "/api/v1/cases/{number}/sla", f"/api/v1/cases/{num}/sla", role)
        call("GET", "/api/v1/cases/{number}/sla/explain", f"/api/v1/cases/{num}/sla/explain", role)
    call("GET", "/api/v1/cases/{number}/mail", f"/api/v1/cases/{n}/mail", "manager",
         note="new case: nothing received yet")
    for num in list(T["east_by_status"].values())[:3]:
        call("GET", "/api/v1/cases/{number}/mail", f"/api/v1/cases/{num}/mail", "manager")
    call("GET", "/api/v1/cases/{number}/mail", f"/api/v1/cases/{n}/mail", "agent")
    call("GET", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n}/incidents", "ops",
         note="not linked yet")

    # ---- attachments
    call("GET", "/api/v1/cases/{number}/attachments", f"/api/v1/cases/{n}/attachments", "ops",
         note="none yet")
    log = ("2026-12-01T10:00:00Z GET /oauth2/authorize?client_id=app_eastwind_portal"
           "&redirect_uri=https%3A%2F%2Fportal.eastwind.example%2Fcallback 400 redirect_uri_mismatch\n")
    data, ctype = multipart([("authorize.log", "text/plain", log.encode())])
    st, up, _ = call("POST", "/api/v1/cases/{number}/attachments",
                     f"/api/v1/cases/{n}/attachments", "ops", raw=data, content_type=ctype)
    urls = [a.get("url") for a in (up or {}).get("attachments", []) if isinstance(a, dict)]
    har = {
        "log": {
            "version": "1.2", "creator": {"name": "Firefox", "version": "128.0"},
            "pages": [],
            "entries": [{
                "startedDateTime": ago(1), "time": 120.5,
                "request": {
                    "method": "GET",
                    "url": "https://login.eastwind.example/oauth2/authorize?client_id=app_eastwind_portal&redirect_uri=https%3A%2F%2Fportal.eastwind.example%2Fcallback&response_type=code&state=xyz",
                    "httpVersion": "HTTP/2",
                    "headers": [{"name": "Cookie", "value": "session=s3cr3tSessionValue123456"},
                                {"name": "Authorization", "value": "Bearer abcdefghijklmnopqrstuvwxyz0123456789"}],
                    "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0,
                },
                "response": {
                    "status": 400, "statusText": "Bad Request", "httpVersion": "HTTP/2",
                    "headers": [{"name": "Content-Type", "value": "application/json"}],
                    "cookies": [],
                    "content": {"size": 60, "mimeType": "application/json",
                                "text": "{\"error\":\"invalid_request\",\"error_description\":\"redirect_uri_mismatch\"}"},
                    "redirectURL": "", "headersSize": -1, "bodySize": 60,
                },
                "cache": {}, "timings": {"send": 1, "wait": 100, "receive": 19.5},
            }],
        }
    }
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    data, ctype = multipart([("signin.har", "application/json", json.dumps(har).encode()),
                             ("screenshot.png", "image/png", png)])
    st, up2, _ = call("POST", "/api/v1/cases/{number}/attachments",
                      f"/api/v1/cases/{n}/attachments", "ops", raw=data, content_type=ctype)
    urls += [a.get("url") for a in (up2 or {}).get("attachments", []) if isinstance(a, dict)]
    data, ctype = multipart([("agent-notes.txt", "text/plain", b"Checked the client registration; trailing slash differs.")])
    st, up3, _ = call("POST", "/api/v1/cases/{number}/attachments",
                      f"/api/v1/cases/{n}/attachments?internal=true", "agent", raw=data,
                      content_type=ctype)
    internal_urls = [a.get("url") for a in (up3 or {}).get("attachments", []) if isinstance(a, dict)]
    call("GET", "/api/v1/cases/{number}/attachments", f"/api/v1/cases/{n}/attachments", "ops")
    call("GET", "/api/v1/cases/{number}/attachments", f"/api/v1/cases/{n}/attachments", "agent")
    for u in urls:
        if u:
            call("GET", "/api/v1/cases/{number}/attachments/{id}", u, "ops")
    for u in internal_urls:
        if u:
            call("GET", "/api/v1/cases/{number}/attachments/{id}", u, "agent")

    # ---- diagnostics
    reg = ["https://portal.eastwind.example/callback", "http://127.0.0.1:8400/cb"]
    for role, used in [("ops", "https://portal.eastwind.example/callback"),
                       ("agent", "https://portal.eastwind.example:443/callback/"),
                       ("ops", "http://127.0.0.1:53122/cb"),
                       ("ops", "https://portal.eastwind.example/callback#frag")]:
        call("POST", "/api/v1/diagnostics/redirect-uri", "/api/v1/diagnostics/redirect-uri", role,
             {"registered": reg, "used": used})
    now = int(time.time())
    iss = "https://login.eastwind.example/oauth2/default"
    token = ".".join([
        b64url({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        b64url({"iss": iss, "aud": "api://eastwind-portal", "sub": "00u1abcd", "scp": ["openid", "profile"],
                "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "cid": "app_eastwind_portal"}),
        b64url(os.urandom(64)),
    ])
    call("POST", "/api/v1/diagnostics/jwt", "/api/v1/diagnostics/jwt", "ops",
         {"token": "Bearer " + token, "issuer": iss, "audience": "api://eastwind-portal",
          "leeway_seconds": 120, "case": n})
    expired = ".".join([
        b64url({"alg": "RS256", "kid": "k1"}),
        b64url({"iss": iss, "aud": "api://eastwind-portal", "sub": "00u1abcd", "iat": now - 7200,
                "exp": now - 3600}),
        b64url(os.urandom(64)),
    ])
    call("POST", "/api/v1/diagnostics/jwt", "/api/v1/diagnostics/jwt", "agent", {"token": expired})
    call("POST", "/api/v1/diagnostics/jwt", "/api/v1/diagnostics/jwt", "ops", {"token": "not-a-token"})
    unsigned = ".".join([b64url({"alg": "none"}), b64url({"sub": "x", "exp": now + 60}), ""])
    call("POST", "/api/v1/diagnostics/jwt", "/api/v1/diagnostics/jwt", "manager",
         {"token": unsigned, "audience": "api://x"})

    # ---- knowledge base and solutions
    call("GET", "/api/v1/kb/entries", "/api/v1/kb/entries", "anonymous")
    st, kb_ops, _ = call("GET", "/api/v1/kb/entries", "/api/v1/kb/entries", "ops")
    st, kb_mgr, _ = call("GET", "/api/v1/kb/entries", "/api/v1/kb/entries", "manager")
    entries = (kb_mgr or {}).get("items", []) if isinstance(kb_mgr, dict) else []
    for e in entries[:2]:
        call("GET", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{e['id']}", "anonymous"
             if e.get("visibility") == "public" else "ops")
    link_entries = [e for e in entries if e.get("kind") == "link"]
    if link_entries:
        call("GET", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{link_entries[0]['id']}", "manager")
    article = {
        "kind": "article", "title": "Rotating a webhook secret without missed deliveries",
        "summary": "Rotate, deploy the new secret, and accept both during the overlap.",
        "body": "Rotate the secret of the endpoint.\nBoth secrets sign during the overlap; verify with either.",
        "issue_areas": ["webhooks"], "tags": ["webhook", "secret", "rotation"],
        "visibility": "customers", "state": "draft",
    }
    kid = "webhook-secret-rotation"
    call("PUT", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{kid}", "manager", article,
         note="create (201)")
    call("GET", "/api/v1/kb/entries/{id}/versions", f"/api/v1/kb/entries/{kid}/versions", "manager",
         note="one version")
    published = dict(article, state="published")
    call("PUT", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{kid}", "manager", published,
         note="update (200)")
    call("GET", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{kid}", "ops")
    call("GET", "/api/v1/kb/entries/{id}", f"/api/v1/kb/entries/{kid}", "manager")
    call("GET", "/api/v1/kb/entries/{id}/versions", f"/api/v1/kb/entries/{kid}/versions", "manager")
    link = {
        "kind": "link", "title": "Registering redirect URIs",
        "summary": "Redirect URIs must match exactly, including trailing slashes.",
        "body": "The documentation lists the matching rules for redirect URIs.",
        "url": "https://docs.eastwind.example/identity/redirect-uris",
        "issue_areas": ["sign-in-and-redirects"], "tags": [],
        "visibility": "public", "state": "published",
    }
    call("PUT", "/api/v1/kb/entries/{id}", "/api/v1/kb/entries/redirect-uri-rules", "manager", link,
         note="create a link entry (201)")
    call("GET", "/api/v1/kb/entries/{id}", "/api/v1/kb/entries/redirect-uri-rules", "anonymous")
    call("GET", "/api/v1/kb/entries/{id}/versions", "/api/v1/kb/entries/redirect-uri-rules/versions",
         "manager")
    internal = {
        "kind": "community", "title": "Clock skew between our token service and customer APIs",
        "summary": "Allow up to a minute of leeway when validating nbf and iat.",
        "body": "Answer from the community: set leeway to 60 seconds.",
        "issue_areas": ["tokens-and-jwks"], "visibility": "internal", "state": "published",
    }
    call("PUT", "/api/v1/kb/entries/{id}", "/api/v1/kb/entries/clock-skew-leeway-community",
         "manager", internal, note="create a community entry without tags (201)")
    call("GET", "/api/v1/kb/entries", "/api/v1/kb/entries", "manager")

    q1 = {"subject": "redirect_uri_mismatch after deploy",
          "description": "Users are sent back with redirect_uri_mismatch since our release.",
          "issue_area": "sign-in-and-redirects"}
    call("POST", "/api/v1/solutions/suggest", "/api/v1/solutions/suggest", "anonymous", q1)
    call("POST", "/api/v1/solutions/suggest", "/api/v1/solutions/suggest", "ops",
         {"subject": "token not yet valid", "description": "nbf in the future, clock skew"})
    call("POST", "/api/v1/solutions/suggest", "/api/v1/solutions/suggest", "agent",
         {"subject": "zzzzqqq xylophone"})
    st, sug, _ = call("POST", "/api/v1/solutions/suggest", "/api/v1/solutions/suggest", "ops",
                      {"subject": "webhook secret rotation", "issue_area": "webhooks"})
    suggestions = (sug or {}).get("suggestions", []) if isinstance(sug, dict) else []
    deflect_id = suggestions[0]["id"] if suggestions else kid
    call("POST", "/api/v1/solutions/deflections", "/api/v1/solutions/deflections", "ops",
         {"entry_id": deflect_id, "subject": "webhook secret rotation",
          "description": "How do we rotate without missing deliveries?", "issue_area": "webhooks"})
    call("POST", "/api/v1/solutions/deflections", "/api/v1/solutions/deflections", "owner",
         {"entry_id": "redirect-uri-rules", "subject": "redirect_uri_mismatch"})
    call("GET", "/api/v1/reports/deflection", "/api/v1/reports/deflection", "manager")
    call("GET", "/api/v1/reports/deflection", "/api/v1/reports/deflection", "manager",
         query={"since": ago(24 * 7), "until": ago(-1)})
    call("GET", "/api/v1/reports/deflection", "/api/v1/reports/deflection", "manager",
         query={"since": "2020-01-01T00:00:00Z", "until": "2020-02-01T00:00:00Z"},
         note="a period without data: rate null")

    # ---- SLA calendars, policies, settings, previews
    berlin = {"time_zone": "Europe/Berlin",
              "hours": {"mon": ["08:00-12:00", "13:00-18:00"], "tue": ["08:00-12:00", "13:00-18:00"],
                        "wed": ["08:00-12:00", "13:00-18:00"], "thu": ["08:00-12:00", "13:00-18:00"],
                        "fri": ["08:00-16:00"]},
              "holidays": ["2026-12-24", "2026-12-25", "2027-01-01"]}
    call("PUT", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/berlin-support", "manager", berlin)
    call("PUT", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/always-on", "manager",
         {"time_zone": "UTC", "hours": "24x7"})
    call("GET", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/berlin-support", "manager",
         note="one version")
    berlin2 = dict(berlin, holidays=["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"])
    call("PUT", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/berlin-support", "manager", berlin2)
    call("GET", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/berlin-support", "manager",
         note="two versions")
    call("GET", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/always-on", "manager")
    call("PUT", "/api/v1/sla/calendars/{name}", "/api/v1/sla/calendars/singapore", "manager",
         {"time_zone": "Asia/Singapore", "hours": {"mon": ["09:00-18:00"], "sat": ["10:00-14:00"]}})
    call("GET", "/api/v1/sla/calendars", "/api/v1/sla/calendars", "manager")

    call("POST", "/api/v1/sla/due", "/api/v1/sla/due", "manager",
         {"calendar": "Europe/Berlin", "start": "2026-11-20T17:30:00+01:00", "target_minutes": 480})
    call("POST", "/api/v1/sla/due", "/api/v1/sla/due", "manager",
         {"calendar": "24x7", "start": "2026-11-20T17:30:00Z", "target_minutes": 60})
    call("POST", "/api/v1/sla/due", "/api/v1/sla/due", "manager",
         {"calendar": "berlin-support", "start": "2026-12-23T15:00:00+01:00", "target_minutes": 240})
    call("POST", "/api/v1/sla/due", "/api/v1/sla/due", "manager",
         {"calendar": {"time_zone": "Asia/Kolkata", "hours": {"mon": ["09:30-13:00", "14:00-18:30"]},
                       "holidays": []},
          "start": "2026-11-23T00:00:00Z", "target_minutes": 30})
    call("POST", "/api/v1/sla/between", "/api/v1/sla/between", "manager",
         {"calendar": {"time_zone": "Asia/Kolkata", "hours": {"mon": ["09:30-13:00", "14:00-18:30"]}},
          "from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z"})
    call("POST", "/api/v1/sla/between", "/api/v1/sla/between", "manager",
         {"calendar": "berlin-support", "from": "2026-12-23T09:00:00+01:00",
          "to": "2026-12-28T12:30:00+01:00"})
    call("POST", "/api/v1/sla/between", "/api/v1/sla/between", "manager",
         {"calendar": "24x7", "from": "2026-11-23T00:00:00Z", "to": "2026-11-23T00:00:30Z"},
         note="fractional minutes")

    call("GET", "/api/v1/sla/policies", "/api/v1/sla/policies", "manager", note="defaults only")
    call("PUT", "/api/v1/sla/policies/{plan}/{priority}", "/api/v1/sla/policies/enterprise/P1", "manager",
         {"first_response": {"minutes": 30, "basis": "calendar"},
          "next_response": {"minutes": 120, "basis": "calendar"},
          "resolution": {"minutes": 1440, "basis": "calendar"}})
    call("PUT", "/api/v1/sla/policies/{plan}/{priority}", "/api/v1/sla/policies/silver/P4", "manager",
         {"first_response": {"minutes": 960, "basis": "business"}, "next_response": None})
    call("GET", "/api/v1/sla/policies", "/api/v1/sla/policies", "manager", note="two edited")

    call("GET", "/api/v1/sla/settings", "/api/v1/sla/settings", "manager", note="defaults")
    call("PUT", "/api/v1/sla/settings", "/api/v1/sla/settings", "manager",
         {"warning_percent": 75, "on_hold_pauses": True,
          "duty_managers": ["mia.manager@casedesk.example"]})
    call("GET", "/api/v1/sla/settings", "/api/v1/sla/settings", "manager")
    call("PUT", "/api/v1/sla/settings", "/api/v1/sla/settings", "manager", {"warning_percent": 80},
         note="missing fields take their defaults")

    # ---- webhooks (before events, so deliveries are made)
    st, ep_int, _ = call("POST", "/api/v1/webhooks", "/api/v1/webhooks", "manager",
                         {"url": "https://hooks.casedesk-ops.example.com/casedesk",
                          "description": "Ops dashboard (every event)"})
    st, ep_acc, _ = call("POST", "/api/v1/webhooks", "/api/v1/webhooks", "owner",
                         {"url": "https://hooks.eastwind.example/casedesk",
                          "description": "Eastwind ticket sync",
                          "event_types": ["case.created", "case.replied", "case.status_changed",
                                          "status.incident.created"],
                          "enabled": True})
    st, ep_off, _ = call("POST", "/api/v1/webhooks", "/api/v1/webhooks", "manager",
                         {"url": "https://hooks.casedesk-ops.example.com/paused",
                          "event_types": ["case.sla_warning", "case.sla_breached"], "enabled": False})
    int_id = ep_int.get("id") if isinstance(ep_int, dict) else None
    acc_id = ep_acc.get("id") if isinstance(ep_acc, dict) else None
    off_id = ep_off.get("id") if isinstance(ep_off, dict) else None
    call("GET", "/api/v1/webhooks", "/api/v1/webhooks", "manager")
    call("GET", "/api/v1/webhooks", "/api/v1/webhooks", "owner")
    if int_id:
        call("GET", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{int_id}", "manager")
        call("GET", "/api/v1/webhooks/{id}/deliveries", f"/api/v1/webhooks/{int_id}/deliveries",
             "manager", note="none yet")
    if acc_id:
        call("GET", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{acc_id}", "owner")
        call("PATCH", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{acc_id}", "owner",
             {"description": "Eastwind ticket sync (prod)",
              "event_types": ["case.created", "case.replied", "case.status_changed",
                              "case.resolution_proposed", "case.closed", "status.incident.created",
                              "status.incident.updated", "status.incident.resolved"]})
    if off_id:
        call("GET", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{off_id}", "manager")
        call("PATCH", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{off_id}", "manager",
             {"description": None, "url": "https://hooks.casedesk-ops.example.com/sla"})

    # ---- incidents and status
    inc1_body = {"title": "Sign-in errors in the Americas", "impact": "partial_outage",
                 "regions": ["americas"], "components": ["sign-in", "token-service"],
                 "issue_areas": ["sign-in-and-redirects"],
                 "body": "Some sign-ins fail with a server error; we are looking into it.",
                 "state": "investigating"}
    st, inc1, _ = call("POST", "/api/v1/status/incidents", "/api/v1/status/incidents", "manager", inc1_body)
    inc1_id = inc1.get("id") if isinstance(inc1, dict) else None
    st, inc2, _ = call("POST", "/api/v1/status/incidents", "/api/v1/status/incidents", "manager",
                       {"title": "Planned maintenance of SCIM provisioning", "impact": "maintenance",
                        "components": ["provisioning"],
                        "body": "Provisioning requests are queued during the upgrade.",
                        "state": "monitoring"})
    inc2_id = inc2.get("id") if isinstance(inc2, dict) else None
    if inc1_id:
        call("GET", "/api/v1/status/incidents/{id}", f"/api/v1/status/incidents/{inc1_id}", "anonymous",
             note="one update")
        call("GET", "/api/v1/status/incidents/{id}/cases", f"/api/v1/status/incidents/{inc1_id}/cases",
             "agent", note="no cases linked")
    call("GET", "/api/v1/status/active", "/api/v1/status/active", "ops",
         query={"tenant": "eastwind-prod", "issue_area": "sign-in-and-redirects"})
    call("GET", "/api/v1/status/active", "/api/v1/status/active", "manager",
         query={"tenant": "eastwind-staging"})
    call("GET", "/api/v1/status", "/api/v1/status", "anonymous")

    # A case opened during the incident is offered the link; its requester accepts it.
    st, case2, _ = call("POST", "/api/v1/cases", "/api/v1/cases", "ops",
                        eastwind_case("Login page answers 500 since 10:00"))
    n2 = case2.get("number") if isinstance(case2, dict) else None
    T["n2"] = n2
    if inc1_id and n2:
        call("POST", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n2}/incidents", "ops",
             {"incident_id": inc1_id}, note="customer accepts an offered link")
        call("POST", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n}/incidents", "agent",
             {"incident_id": inc1_id}, note="support links any case")
        call("GET", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n2}/incidents", "ops")
        call("GET", "/api/v1/status/incidents/{id}/cases", f"/api/v1/status/incidents/{inc1_id}/cases",
             "manager")
    if inc2_id and n:
        call("POST", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n}/incidents", "manager",
             {"incident_id": inc2_id})
        call("GET", "/api/v1/cases/{number}/incidents", f"/api/v1/cases/{n}/incidents", "agent",
             note="two incidents")

    if inc1_id:
        call("POST", "/api/v1/status/incidents/{id}/updates", f"/api/v1/status/incidents/{inc1_id}/updates",
             "manager", {"state": "identified", "impact": "degraded",
                         "body": "A faulty release; rolling back."})
        call("POST", "/api/v1/status/incidents/{id}/updates", f"/api/v1/status/incidents/{inc1_id}/updates",
             "manager", {"body": "Rollback at 60%; sign-ins are recovering."})
        call("GET", "/api/v1/status", "/api/v1/status", "anonymous", note="open incidents with updates")
        call("POST", "/api/v1/status/incidents/{id}/updates", f"/api/v1/status/incidents/{inc1_id}/updates",
             "manager", {"state": "resolved",
                         "body": "The rollback is complete and sign-ins succeed again."})
        call("GET", "/api/v1/status/incidents/{id}", f"/api/v1/status/incidents/{inc1_id}", "anonymous",
             note="resolved, several updates")
        call("GET", "/api/v1/status/incidents/{id}", f"/api/v1/status/incidents/{inc1_id}", "ops")
    if inc2_id:
        call("GET", "/api/v1/status/incidents/{id}", f"/api/v1/status/incidents/{inc2_id}", "anonymous")
        call("GET", "/api/v1/status/incidents/{id}/cases", f"/api/v1/status/incidents/{inc2_id}/cases",
             "manager")
    call("GET", "/api/v1/status", "/api/v1/status", "anonymous", query={"history": "true"},
         note="with resolved history")
    call("GET", "/api/v1/status/active", "/api/v1/status/active", "owner",
         query={"tenant": "eastwind-staging", "issue_area": "scim-and-provisioning"})

    # subscriptions
    call("PUT", "/api/v1/status/subscription", "/api/v1/status/subscription", "ops",
         {"regions": ["americas", "eu"]})
    call("GET", "/api/v1/status/subscription", "/api/v1/status/subscription", "ops")
    call("PUT", "/api/v1/status/subscription", "/api/v1/status/subscription", "agent", {},
         note="empty: all regions")
    call("GET", "/api/v1/status/subscription", "/api/v1/status/subscription", "agent")
    call("PUT", "/api/v1/status/subscription", "/api/v1/status/subscription", "manager",
         {"regions": []})
    call("GET", "/api/v1/status/subscription", "/api/v1/status/subscription", "manager")

    # ---- events that feed the webhooks (setup, recorded too)
    if n:
        call("POST", "/api/v1/cases/{number}/notes", f"/api/v1/cases/{n}/notes", "agent",
             {"body": "Registration shows /callback/ with a trailing slash."})
        call("POST", "/api/v1/cases/{number}/replies", f"/api/v1/cases/{n}/replies", "agent",
             {"body": "The registered redirect URI ends in /callback/; your app sends /callback."})

    # ---- email intake and the mail gate
    acct = urllib.parse.quote("Eastwind Airlines")
    call("GET", "/api/v1/accounts/{account}/email-intake", f"/api/v1/accounts/{acct}/email-intake",
         "manager", note="off by default")
    defaults = eastwind_case("ignored")
    for k in ("subject", "description"):
        defaults.pop(k)
    defaults["priority"] = "P3"
    defaults["contact"] = {"phone": "+1 555 0100 200", "timezone": "America/New_York"}
    call("PUT", "/api/v1/accounts/{account}/email-intake", f"/api/v1/accounts/{acct}/email-intake",
         "manager", {"enabled": True, "defaults": defaults})
    call("GET", "/api/v1/accounts/{account}/email-intake", f"/api/v1/accounts/{acct}/email-intake",
         "manager")
    cobalt = urllib.parse.quote("Cobalt Health")
    call("PUT", "/api/v1/accounts/{account}/email-intake", f"/api/v1/accounts/{cobalt}/email-intake",
         "manager", {"enabled": False}, note="disabled, no defaults")
    call("GET", "/api/v1/accounts/{account}/email-intake", f"/api/v1/accounts/{cobalt}/email-intake",
         "manager")

    mid = uuid.uuid4().hex[:12]
    reply = (
        "From: Olivia Park <ops@eastwind.example>\r\n"
        "To: support@casedesk.example\r\n"
        f"Subject: Re: [casedesk #{n}] Sign-in fails after redirect\r\n"
        f"Message-ID: <reply-{mid}@mail.eastwind.example>\r\n"
        "Date: Mon, 30 Nov 2026 10:15:00 +0000\r\n"
        "Authentication-Results: mx.casedesk.example; spf=pass smtp.mailfrom=eastwind.example; "
        "dkim=pass header.d=eastwind.example; dmarc=pass header.from=eastwind.example\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "\r\n"
        "The redirect URI is now fixed in our pipeline, thanks!\r\n\r\nOlivia\r\n"
    )
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=reply.encode(), content_type="message/rfc822", note="reply threaded by subject tag")
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=reply.encode(), content_type="message/rfc822", note="same Message-ID again: duplicate")
    oof = (
        "From: Olivia Park <ops@eastwind.example>\r\n"
        "To: support@casedesk.example\r\n"
        f"Subject: Automatic reply: [casedesk #{n}] Sign-in fails after redirect\r\n"
        f"Message-ID: <oof-{mid}@mail.eastwind.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "X-Auto-Response-Suppress: All\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        "I am away until Monday.\r\n"
    )
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=oof.encode(), content_type="message/rfc822", note="automatic reply")
    new_mail = (
        "From: Olivia Park <ops@eastwind.example>\r\n"
        "To: support@casedesk.example\r\n"
        "Subject: Fwd: login errors from our monitoring\r\n"
        f"Message-ID: <fwd-{mid}@mail.eastwind.example>\r\n"
        "Authentication-Results: mx.casedesk.example; spf=pass smtp.mailfrom=eastwind.example; "
        "dkim=pass header.d=eastwind.example; dmarc=pass header.from=eastwind.example\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        "Opening a new case for this one.\r\n\r\n---------- Forwarded message ---------\r\n"
        "From: monitor@eastwind.example\r\nSubject: login errors\r\n\r\n"
        "invalid_grant on /oauth2/token x 42\r\n"
    )
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=new_mail.encode(), content_type="message/rfc822", note="opens a case (intake on)")
    outsider = (
        "From: Mallory <mallory@outsider.example>\r\n"
        "To: support@casedesk.example\r\n"
        f"Subject: Re: [casedesk #{n}] Sign-in fails after redirect\r\n"
        f"Message-ID: <out-{mid}@outsider.example>\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        "Please send me the details of this case.\r\n"
    )
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=outsider.encode(), content_type="message/rfc822", note="refused sender")
    nothread = (
        "From: ops@cobalt.example\r\n"
        "To: support@casedesk.example\r\n"
        "Subject: Question about SCIM\r\n"
        f"Message-ID: <nocase-{mid}@cobalt.example>\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        "How do we map groups?\r\n"
    )
    call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
         raw=nothread.encode(), content_type="message/rfc822", note="no case (intake off for Cobalt)")
    closed = T["east_by_status"].get("closed")
    if closed:
        closed_mail = (
            "From: ops@eastwind.example\r\n"
            "To: support@casedesk.example\r\n"
            f"Subject: Re: [casedesk #{closed}] First sign-in loops back to the login page\r\n"
            f"Message-ID: <closed-{mid}@mail.eastwind.example>\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
            "It happens again.\r\n"
        )
        call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
             raw=closed_mail.encode(), content_type="message/rfc822", note="reply to a closed case")
    # Held mail: a ticket tool's acknowledgement (machine-like, without automatic-mail
    # headers) is held; support lists, releases one and discards another.
    held_ids = []
    for i in range(2):
        ack = (
            "From: Olivia Park <ops@eastwind.example>\r\n"
            "To: support@casedesk.example\r\n"
            f"Subject: Re: [casedesk #{n}] Sign-in fails after redirect\r\n"
            f"Message-ID: <ack-{i}-{mid}@eastwind.example>\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
            f"This is an automated message: we have received your request ({i}).\r\n"
        )
        st, d, _ = call("POST", "/api/v1/inbound/email", "/api/v1/inbound/email", "manager",
                        raw=ack.encode(), content_type="message/rfc822", note="held (machine-like)")
        if isinstance(d, dict) and d.get("outcome") == "held":
            held_ids.append(d["id"])
    call("GET", "/api/v1/inbound/email", "/api/v1/inbound/email?state=held", "manager", note="held mail")
    call("GET", "/api/v1/inbound/email", "/api/v1/inbound/email?state=posted&limit=5", "manager")
    if held_ids:
        call("POST", "/api/v1/inbound/email/{id}/release", f"/api/v1/inbound/email/{held_ids[0]}/release",
             "manager", body={"note": "genuine"})
    if len(held_ids) > 1:
        call("POST", "/api/v1/inbound/email/{id}/discard", f"/api/v1/inbound/email/{held_ids[1]}/discard",
             "manager", body={})
    call("GET", "/api/v1/cases/{number}/mail", f"/api/v1/cases/{n}/mail", "manager",
         note="sent and received")
    call("GET", "/api/v1/cases/{number}/mail", f"/api/v1/cases/{n}/mail", "ops")

    # ---- webhook deliveries
    def deliveries(ep, role):
        st, d, _ = call("GET", "/api/v1/webhooks/{id}/deliveries", f"/api/v1/webhooks/{ep}/deliveries",
                        role, record=False)
        return d.get("items") if isinstance(d, dict) and d.get("items") else None

    dids = {}
    for ep, role in ((int_id, "manager"), (acc_id, "owner")):
        if not ep:
            continue
        got = wait_until(f"deliveries of {ep}", lambda: deliveries(ep, role), timeout=90)
        if got:
            dids[ep] = got
    for ep, role in ((int_id, "manager"), (acc_id, "owner")):
        if not ep:
            continue
        call("GET", "/api/v1/webhooks/{id}/deliveries", f"/api/v1/webhooks/{ep}/deliveries", role)
        call("GET", "/api/v1/webhooks/{id}/deliveries", f"/api/v1/webhooks/{ep}/deliveries", role,
             query={"limit": 2})
        for d in (dids.get(ep) or [])[:2]:
            call("GET", "/api/v1/webhooks/{id}/deliveries/{delivery}",
                 f"/api/v1/webhooks/{ep}/deliveries/{d['id']}", role)
    redelivered = []
    for ep, role in ((int_id, "manager"), (acc_id, "owner")):
        for d in (dids.get(ep) or [])[:1]:
            # enabled again first, in case it was disabled by failures
            st, cur, _ = call("GET", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{ep}", role)
            if isinstance(cur, dict) and not cur.get("enabled"):
                call("PATCH", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{ep}", role, {"enabled": True})
            call("POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
                 f"/api/v1/webhooks/{ep}/deliveries/{d['id']}/redeliver", role)
            redelivered.append((ep, role, d["id"]))
    for ep, role in ((int_id, "manager"), (acc_id, "owner")):
        if not ep:
            continue
        call("POST", "/api/v1/webhooks/{id}/rotate-secret", f"/api/v1/webhooks/{ep}/rotate-secret", role,
             {}, note="default overlap (24 h)")
    if int_id:
        call("POST", "/api/v1/webhooks/{id}/rotate-secret", f"/api/v1/webhooks/{int_id}/rotate-secret",
             "manager", {"overlap_hours": 48})
        call("POST", "/api/v1/webhooks/{id}/rotate-secret", f"/api/v1/webhooks/{int_id}/rotate-secret",
             "manager", {"overlap_hours": 0}, note="old secrets expire now")

    # ---- jobs
    def jobs(query=None):
        st, j, _ = call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query=query, record=False)
        return j.get("items", []) if isinstance(j, dict) else []

    # A manual redelivery that fails leaves a dead job.
    dead = wait_until("a dead job", lambda: jobs({"state": "dead"}), timeout=60)
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager")
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"state": "queued"})
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"state": "done", "limit": 3})
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"kind": "webhook.deliver"})
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"state": "dead"})
    st, page1, _ = call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"limit": 2})
    if isinstance(page1, dict) and page1.get("next"):
        call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager",
             query={"limit": 2, "cursor": page1["next"]})
    for j in (jobs({"state": "done", "limit": 2}) or [])[:2]:
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{j['id']}", "manager", note="done")
    queued = [j for j in jobs({"state": "queued"}) if j["kind"] == "maintenance"] or jobs({"state": "queued"})
    if queued:
        q = queued[0]
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{q['id']}", "manager", note="queued")
        call("POST", "/api/v1/jobs/{id}/cancel", f"/api/v1/jobs/{q['id']}/cancel", "manager",
             note="cancel a queued job")
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{q['id']}", "manager", note="cancelled")
        call("POST", "/api/v1/jobs/{id}/retry", f"/api/v1/jobs/{q['id']}/retry", "manager",
             note="retry a cancelled job")
    if dead:
        d0 = dead[0]
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{d0['id']}", "manager", note="dead")
        call("POST", "/api/v1/jobs/{id}/retry", f"/api/v1/jobs/{d0['id']}/retry", "manager",
             note="retry a dead job")
        dead2 = wait_until("another dead job", lambda: jobs({"state": "dead"}), timeout=45)
        if dead2:
            call("POST", "/api/v1/jobs/{id}/cancel", f"/api/v1/jobs/{dead2[0]['id']}/cancel", "manager",
                 note="cancel a dead job")
    running = jobs({"state": "running"})
    if running:
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{running[0]['id']}", "manager", note="running")
    retrying = [j for j in jobs({"state": "queued", "kind": "webhook.deliver"}) if j.get("attempts")]
    if retrying:
        call("GET", "/api/v1/jobs/{id}", f"/api/v1/jobs/{retrying[0]['id']}", "manager",
             note="queued for a retry after a failed attempt")
    call("GET", "/api/v1/jobs", "/api/v1/jobs", "manager", query={"state": "cancelled"})

    # After failures: endpoints' streaks, disabled reasons and notices.
    for ep, role in ((int_id, "manager"), (acc_id, "owner")):
        if ep:
            call("GET", "/api/v1/webhooks/{id}", f"/api/v1/webhooks/{ep}", role)
            for d in (dids.get(ep) or [])[:1]:
                call("GET", "/api/v1/webhooks/{id}/deliveries/{delivery}",
                     f"/api/v1/webhooks/{ep}/deliveries/{d['id']}", role, note="after redelivery")
    call("GET", "/api/v1/webhooks", "/api/v1/webhooks", "manager")
    call("GET", "/api/v1/notices", "/api/v1/notices", "manager")
    call("GET", "/api/v1/notices", "/api/v1/notices", "owner")

    # ---- SLA again, now that settings and policies changed
    call("GET", "/api/v1/cases/{number}/sla", f"/api/v1/cases/{n}/sla", "manager", note="after replies")
    call("GET", "/api/v1/cases/{number}/sla/explain", f"/api/v1/cases/{n}/sla/explain", "manager",
         note="after replies")

    # ---- audit trail
    call("GET", "/api/v1/audit", "/api/v1/audit", "manager", query={"since": ago(1)})
    call("GET", "/api/v1/audit", "/api/v1/audit", "manager",
         query={"account": "Eastwind Airlines", "since": ago(1), "until": ago(-1)})
    call("GET", "/api/v1/audit", "/api/v1/audit", "owner")
    call("GET", "/api/v1/audit", "/api/v1/audit", "manager",
         query={"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"},
         note="empty period (the export itself is logged at now)")

    call("GET", "/healthz", "/healthz")


# --------------------------------------------------------------------------- main

REQUIRED = [
    ("GET", "/api/v1/accounts/{account}/email-intake"), ("PUT", "/api/v1/accounts/{account}/email-intake"),
    ("GET", "/api/v1/audit"), ("GET", "/api/v1/cases/{number}/attachments"),
    ("GET", "/api/v1/cases/{number}/attachments/{id}"), ("GET", "/api/v1/cases/{number}/incidents"),
    ("POST", "/api/v1/cases/{number}/incidents"), ("GET", "/api/v1/cases/{number}/mail"),
    ("GET", "/api/v1/cases/{number}/sla"), ("GET", "/api/v1/cases/{number}/sla/explain"),
    ("POST", "/api/v1/diagnostics/jwt"), ("POST", "/api/v1/diagnostics/redirect-uri"),
    ("POST", "/api/v1/inbound/email"), ("GET", "/api/v1/inbound/email"),
    ("POST", "/api/v1/inbound/email/{id}/release"), ("POST", "/api/v1/inbound/email/{id}/discard"),
    ("GET", "/api/v1/intake"), ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"), ("POST", "/api/v1/jobs/{id}/cancel"), ("POST", "/api/v1/jobs/{id}/retry"),
    ("GET", "/api/v1/kb/entries"), ("GET", "/api/v1/kb/entries/{id}"), ("PUT", "/api/v1/kb/entries/{id}"),
    ("GET", "/api/v1/kb/entries/{id}/versions"), ("GET", "/api/v1/notices"),
    ("GET", "/api/v1/reports/deflection"), ("POST", "/api/v1/sla/between"),
    ("GET", "/api/v1/sla/calendars"), ("GET", "/api/v1/sla/calendars/{name}"),
    ("PUT", "/api/v1/sla/calendars/{name}"), ("POST", "/api/v1/sla/due"), ("GET", "/api/v1/sla/policies"),
    ("PUT", "/api/v1/sla/policies/{plan}/{priority}"), ("GET", "/api/v1/sla/settings"),
    ("PUT", "/api/v1/sla/settings"), ("POST", "/api/v1/solutions/deflections"),
    ("POST", "/api/v1/solutions/suggest"), ("GET", "/api/v1/status"), ("GET", "/api/v1/status/active"),
    ("POST", "/api/v1/status/incidents"), ("GET", "/api/v1/status/incidents/{id}"),
    ("GET", "/api/v1/status/incidents/{id}/cases"), ("POST", "/api/v1/status/incidents/{id}/updates"),
    ("GET", "/api/v1/status/subscription"), ("PUT", "/api/v1/status/subscription"),
    ("GET", "/api/v1/webhooks"), ("POST", "/api/v1/webhooks"), ("GET", "/api/v1/webhooks/{id}"),
    ("PATCH", "/api/v1/webhooks/{id}"), ("GET", "/api/v1/webhooks/{id}/deliveries"),
    ("GET", "/api/v1/webhooks/{id}/deliveries/{delivery}"),
    ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
    ("POST", "/api/v1/webhooks/{id}/rotate-secret"), ("GET", "/healthz"),
]


def main():
    proc, data, creds, lines = start_server()
    try:
        for email, c in creds.items():
            role = ROLES.get(email, email)
            if "token" in c:
                TOKENS[role] = c["token"]
        missing = [r for r in ("owner", "ops", "agent", "manager") if r not in TOKENS]
        if missing:
            raise SystemExit(f"credentials not found for {missing}:\n" + "".join(lines))
        print("roles:", sorted(TOKENS), flush=True)
        for role in ("owner", "ops", "agent", "manager"):
            call("GET", "/api/v1/me", "/api/v1/me", role)
        try:
            scenario()
        finally:
            with open(OUT, "w") as f:
                json.dump(SAMPLES, f, indent=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)

    # coverage
    print("\ncoverage (2xx / total):")
    bad = []
    for m, t in REQUIRED:
        ok = sum(1 for s in SAMPLES if s["method"] == m and s["template"] == t and 200 <= s["status"] < 300)
        tot = sum(1 for s in SAMPLES if s["method"] == m and s["template"] == t)
        print(f"  {ok:3d} / {tot:3d}  {m} {t}")
        if ok == 0:
            bad.append((m, t))
    print(f"\n{len(SAMPLES)} samples written to {OUT}")
    if bad:
        print("NO 2xx for:", bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
