-- Case search: full text kept by the database in the transaction of each write, so every
-- casedesk node sharing the database sees the same index at once.

-- The knowledge base is ranked by an index each casedesk process keeps in memory (see
-- casedesk-search); this counter moves with every change, so each node knows when to
-- rebuild its index, whichever node made the change.
CREATE TABLE kb_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO kb_state (id, generation) VALUES (1, 1);

-- Cases: the subject (weighted), description and public messages in `doc_public`; the same
-- and the internal notes in `doc_all`. Triggers keep both in the transaction of each write.
CREATE TABLE case_search (
    case_number BIGINT PRIMARY KEY REFERENCES cases(number),
    doc_public tsvector NOT NULL,
    doc_all tsvector NOT NULL
);
CREATE INDEX case_search_public ON case_search USING gin (doc_public);
CREATE INDEX case_search_all ON case_search USING gin (doc_all);

CREATE FUNCTION case_search_new() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d tsvector;
BEGIN
    d := setweight(to_tsvector('english', NEW.subject), 'A') || to_tsvector('english', NEW.description);
    INSERT INTO case_search (case_number, doc_public, doc_all) VALUES (NEW.number, d, d);
    RETURN NULL;
END $$;
CREATE TRIGGER case_search_new AFTER INSERT ON cases
FOR EACH ROW EXECUTE FUNCTION case_search_new();

CREATE FUNCTION case_search_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    body TEXT := (NEW.data::jsonb) ->> 'body';
    d tsvector;
BEGIN
    IF NEW.kind = 'created' OR body IS NULL THEN
        RETURN NULL;
    END IF;
    d := to_tsvector('english', body);
    UPDATE case_search
    SET doc_public = CASE WHEN NEW.public THEN doc_public || d ELSE doc_public END,
        doc_all = doc_all || d
    WHERE case_number = NEW.case_number;
    RETURN NULL;
END $$;
CREATE TRIGGER case_search_message AFTER INSERT ON case_events
FOR EACH ROW EXECUTE FUNCTION case_search_message();

INSERT INTO case_search (case_number, doc_public, doc_all)
SELECT c.number,
       setweight(to_tsvector('english', c.subject), 'A') || to_tsvector('english', c.description)
         || to_tsvector('english', coalesce((SELECT string_agg((e.data::jsonb) ->> 'body', E'\n' ORDER BY e.id)
             FROM case_events e WHERE e.case_number = c.number AND e.public AND e.kind <> 'created'), '')),
       setweight(to_tsvector('english', c.subject), 'A') || to_tsvector('english', c.description)
         || to_tsvector('english', coalesce((SELECT string_agg((e.data::jsonb) ->> 'body', E'\n' ORDER BY e.id)
             FROM case_events e WHERE e.case_number = c.number AND e.kind <> 'created'), ''))
FROM cases c;

CREATE TABLE deflections (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    account_id TEXT REFERENCES accounts(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    entry_id TEXT NOT NULL,
    issue_area TEXT,
    subject TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE INDEX deflections_at ON deflections(at);
CREATE INDEX cases_created ON cases(created_at);
