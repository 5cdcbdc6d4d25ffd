-- Entries wait here until a chainer links them into audit_log (under the audit_head lock),
-- so a request's transaction never waits for the one row every writer of every node would
-- otherwise lock. The id only orders the waiting entries; audit_log.seq is the chain's order.
CREATE TABLE audit_pending (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor TEXT NOT NULL,
    account_id TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    summary TEXT NOT NULL,
    source_ip TEXT,
    request_id TEXT,
    customer_visible BOOLEAN NOT NULL
);
