-- Subscribers to service status by address alone (no account). Nothing is sent to an
-- address but its confirmation until `confirmed_at` is set (double opt-in); their links are
-- signed, not stored.
CREATE TABLE status_email_subscribers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    regions TEXT NOT NULL,
    confirmed_at BIGINT,
    asked_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX status_email_subscribers_confirmed ON status_email_subscribers(confirmed_at) WHERE confirmed_at IS NOT NULL;
