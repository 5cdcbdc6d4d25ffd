-- Saved replies: texts managers write once and support engineers insert into a reply.
CREATE TABLE saved_replies (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
