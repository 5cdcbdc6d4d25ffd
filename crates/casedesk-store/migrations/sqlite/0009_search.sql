-- Case search: full text kept by the database in the transaction of each write, so every
-- process sharing the file sees the same index at once and nothing can drift from it.

-- The knowledge base is ranked by an index each casedesk process keeps in memory (see
-- casedesk-search); this counter moves with every change, so each process knows when to
-- rebuild its index, whichever process made the change.
CREATE TABLE kb_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO kb_state (id, generation) VALUES (1, 1);

-- Cases: one row per case (rowid: the case number). `acct` holds one token naming the
-- account, so a customer's search is narrowed to the account inside the index; `pub` the
-- subject, description and public messages; `internal` the internal notes. No copy of the
-- text is kept (the cases and events hold it); a row is rebuilt when a message is added.
CREATE VIRTUAL TABLE case_search USING fts5(
    acct, pub, internal,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

INSERT INTO case_search (rowid, acct, pub, internal)
SELECT c.number, 'a' || replace(c.account_id, '-', ''),
       c.subject || char(10) || c.description || coalesce((
           SELECT char(10) || group_concat(json_extract(e.data, '$.body'), char(10))
           FROM case_events e WHERE e.case_number = c.number AND e.public = 1
             AND e.kind <> 'created' AND json_extract(e.data, '$.body') IS NOT NULL), ''),
       coalesce((
           SELECT group_concat(json_extract(e.data, '$.body'), char(10))
           FROM case_events e WHERE e.case_number = c.number AND e.public = 0
             AND json_extract(e.data, '$.body') IS NOT NULL), '')
FROM cases c;

CREATE TRIGGER case_search_new AFTER INSERT ON cases BEGIN
    INSERT INTO case_search (rowid, acct, pub, internal)
    VALUES (NEW.number, 'a' || replace(NEW.account_id, '-', ''),
            NEW.subject || char(10) || NEW.description, '');
END;

CREATE TRIGGER case_search_message AFTER INSERT ON case_events
WHEN NEW.kind <> 'created' AND json_extract(NEW.data, '$.body') IS NOT NULL BEGIN
    DELETE FROM case_search WHERE rowid = NEW.case_number;
    INSERT INTO case_search (rowid, acct, pub, internal)
    SELECT c.number, 'a' || replace(c.account_id, '-', ''),
           c.subject || char(10) || c.description || coalesce((
               SELECT char(10) || group_concat(json_extract(e.data, '$.body'), char(10))
               FROM case_events e WHERE e.case_number = c.number AND e.public = 1
                 AND e.kind <> 'created' AND json_extract(e.data, '$.body') IS NOT NULL), ''),
           coalesce((
               SELECT group_concat(json_extract(e.data, '$.body'), char(10))
               FROM case_events e WHERE e.case_number = c.number AND e.public = 0
                 AND json_extract(e.data, '$.body') IS NOT NULL), '')
    FROM cases c WHERE c.number = NEW.case_number;
END;

-- "This solved it": a customer read an entry and opened no case.
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
