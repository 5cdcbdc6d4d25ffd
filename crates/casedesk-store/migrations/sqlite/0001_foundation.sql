-- Foundation schema. Ids are UUID text, times are microseconds since the Unix epoch
-- (the same encoding on both backends, so the SQL is shared and ordering is numeric).

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    slug TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tenants_account ON tenants(account_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    case_admin INTEGER NOT NULL,
    elevated INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX users_account ON users(account_id);

CREATE TABLE user_queues (
    user_id TEXT NOT NULL REFERENCES users(id),
    queue TEXT NOT NULL,
    PRIMARY KEY (user_id, queue)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE issue_areas (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    queue TEXT NOT NULL,
    position INTEGER NOT NULL
);

CREATE TABLE cases (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    requester_id TEXT NOT NULL REFERENCES users(id),
    assignee_id TEXT REFERENCES users(id),
    queue TEXT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    stage TEXT NOT NULL,
    issue_area TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    steps_to_reproduce TEXT,
    scope TEXT NOT NULL,
    business_impact TEXT,
    contact TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    context TEXT NOT NULL,
    checklist TEXT NOT NULL,
    escalated INTEGER NOT NULL DEFAULT 0,
    follow_up_of INTEGER REFERENCES cases(number),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
-- Lists walk these in case-number order; status rides along so the common status filter
-- is answered from the index without reading each case.
CREATE INDEX cases_requester ON cases(requester_id, number, status);
CREATE INDEX cases_account ON cases(account_id, number, status);
CREATE INDEX cases_queue ON cases(queue, number, status);
CREATE INDEX cases_assignee ON cases(assignee_id, number);

CREATE TABLE case_contacts (
    case_number INTEGER NOT NULL REFERENCES cases(number),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (case_number, user_id)
);
CREATE INDEX case_contacts_user ON case_contacts(user_id, case_number);

CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_number INTEGER NOT NULL REFERENCES cases(number),
    actor_id TEXT REFERENCES users(id),
    kind TEXT NOT NULL,
    public INTEGER NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX case_events_case ON case_events(case_number, id);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    case_number INTEGER NOT NULL REFERENCES cases(number),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Case numbers start at 1001 on both backends.
INSERT INTO sqlite_sequence (name, seq) VALUES ('cases', 1000);

INSERT INTO issue_areas (key, name, description, queue, position) VALUES
  ('sign-in-and-redirects', 'Sign-in and redirects', 'Users cannot finish signing in: redirect URI mismatches, login loops, consent or session problems.', 'identity', 0),
  ('applications-and-clients', 'Applications and clients', 'Registering applications and OAuth clients, client purposes, credentials and scopes.', 'identity', 1),
  ('tokens-and-jwks', 'Tokens and JWKS', 'Issued tokens are rejected or look wrong: signatures, key rotation, claims, lifetimes, discovery metadata.', 'identity', 2),
  ('webhooks', 'Webhooks', 'Platform webhooks are not delivered, arrive late, or fail signature checks.', 'integrations', 3),
  ('scim-and-provisioning', 'SCIM and provisioning', 'Users or groups are not created, updated or removed as the SCIM connection should do.', 'integrations', 4),
  ('enterprise-identity-providers', 'Enterprise identity providers', 'Federation with a customer''s own OIDC or SAML provider: setup, claims mapping, failures.', 'integrations', 5),
  ('marketplace-and-licensing', 'Marketplace and licensing', 'Add-on products: installation, editions, entitlements, activation, seats and offline leases.', 'commerce', 6),
  ('device-trust', 'Device trust', 'Device registration and posture checks that block or allow sign-in.', 'commerce', 7),
  ('security-review', 'Security review', 'Launch readiness and security questions: JWKS validation, tenant isolation, audit retention, evidence.', 'security', 8),
  ('other', 'Other', 'Anything that fits no other area; a person will route it.', 'general', 9);
