-- Attachments: one row per file on a case. The content lives outside the database, stored
-- by the SHA-256 of what was kept (a HAR capture only as scrubbed); equal content is stored
-- once. Retention marks rows deleted and removes content no live row uses.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    case_number BIGINT NOT NULL REFERENCES cases(number),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    public BOOLEAN NOT NULL,
    uploaded_by TEXT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX attachments_case ON attachments(case_number);
CREATE INDEX attachments_live_sha ON attachments(sha256) WHERE deleted_at IS NULL;
