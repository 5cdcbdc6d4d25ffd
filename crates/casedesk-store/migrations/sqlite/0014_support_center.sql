-- The support center around the case: each account's customer success manager and mail
-- preference, support access grants, satisfaction ratings, and the Trust Center.

-- A support engineer or manager; the requester's own address is copied on the case's mail
-- (when the case email is another address) only when the account asks for it.
ALTER TABLE accounts ADD COLUMN csm_id TEXT REFERENCES users(id);
-- The console finds a CSM's accounts on every queue page.
CREATE INDEX accounts_csm ON accounts(csm_id) WHERE csm_id IS NOT NULL;
ALTER TABLE accounts ADD COLUMN copy_requester INTEGER NOT NULL DEFAULT 0;

-- A customer lets support into one tenant for a bounded time, tied to one case. A grant is
-- in force while ended_at is null and expires_at is in the future.
CREATE TABLE access_grants (
    id TEXT PRIMARY KEY,
    case_number INTEGER NOT NULL REFERENCES cases(number),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    tenant TEXT NOT NULL,
    scope TEXT NOT NULL,
    note TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    ended_by TEXT,
    end_reason TEXT
);
CREATE INDEX access_grants_case ON access_grants(case_number);
CREATE INDEX access_grants_open ON access_grants(tenant, expires_at) WHERE ended_at IS NULL;

-- One rating per case, after it closed.
CREATE TABLE case_ratings (
    case_number INTEGER PRIMARY KEY REFERENCES cases(number),
    rating INTEGER NOT NULL,
    comment TEXT,
    rated_by TEXT NOT NULL,
    rated_at INTEGER NOT NULL
);
CREATE INDEX case_ratings_at ON case_ratings(rated_at);

-- Evidence documents published by managers; the content is kept here (documents are few and
-- small), so retention of case attachments never touches it.
CREATE TABLE trust_documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    requires_nda INTEGER NOT NULL,
    topics TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    published_at INTEGER NOT NULL,
    published_by TEXT NOT NULL
);

-- Which version of the non-disclosure agreement an account accepted, by whom and when.
CREATE TABLE nda_acceptances (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    version TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
);
