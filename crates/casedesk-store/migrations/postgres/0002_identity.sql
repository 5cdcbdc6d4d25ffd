-- Identity: API token labels and last use, local passwords with lockout, browser sessions
-- and pending OpenID Connect logins.

ALTER TABLE api_tokens ADD COLUMN label TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_tokens_user ON api_tokens(user_id, created_at);

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT;

-- Only hashes of session cookies and of OAuth state values are kept.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    issuer TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE login_flows (
    state_hash TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX login_flows_created ON login_flows(created_at);
