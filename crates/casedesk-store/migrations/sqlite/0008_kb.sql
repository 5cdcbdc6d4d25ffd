-- The knowledge base. Every version of every entry is kept (the text as JSON); the current
-- one is the highest version. Visibility and state are columns so readers can be filtered
-- without reading the text.
CREATE TABLE kb_versions (
    entry_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    spec TEXT NOT NULL,
    visibility TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
);
CREATE TABLE kb_entries (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
