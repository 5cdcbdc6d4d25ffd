-- Durable background work, webhooks and the audit trail.

-- A job is written in the same transaction as the change that causes it. Workers claim due
-- jobs under a lease (lease_token fences completion), so each runs once across nodes. A job
-- that succeeds is deleted; dead and cancelled ones stay for inspection.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at BIGINT NOT NULL,
    last_error TEXT,
    locked_by TEXT,
    lease_token TEXT,
    lease_until BIGINT,
    unique_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at);
-- At most one queued or running job per key (recurring jobs).
CREATE UNIQUE INDEX jobs_unique ON jobs(unique_key) WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');

-- Append-only, chained by hash. SQLite has one writer at a time, so the last row is the head;
-- AUTOINCREMENT's sqlite_sequence remembers the highest entry ever written, which shows entries
-- deleted from the end. seq is the rowid, and there is no index on `at` (retention and time
-- filters scan, rarely): each index and statement is paid by every audited commit.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor TEXT NOT NULL,
    account_id TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    summary TEXT NOT NULL,
    source_ip TEXT,
    request_id TEXT,
    customer_visible BOOLEAN NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log(account_id, seq);
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL
);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    url TEXT NOT NULL,
    description TEXT,
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failure_streak BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints(account_id);

-- Signing secrets are sealed (AES-256-GCM) with the server key, never stored in the clear.
CREATE TABLE webhook_secrets (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets(endpoint_id);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    case_number BIGINT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    manual BOOLEAN NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);

CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notices_account ON notices(account_id, created_at);

-- Every case event that some webhook endpoint could receive gets its dispatch job in the
-- same transaction, written by the database itself (no round trip per event); with no
-- enabled endpoint there is nothing to dispatch and nothing is written. Imported history is
-- not announced. Job ids are UUIDv7-shaped (time first), like the ones casedesk makes.
CREATE TRIGGER case_events_dispatch AFTER INSERT ON case_events
WHEN EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled) AND json_extract(NEW.data, '$.imported') IS NULL
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.at / 1000) >> 16, (NEW.at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'case.event', json_object('case', NEW.case_number, 'event', NEW.id), 'queued', 0, 10,
        NEW.at, NEW.at, NEW.at);
END;
