-- The email channel. Every message casedesk sends: one row per recipient, the whole message
-- as sent, and its last result (the case's mail log). Written with the change that causes it.
CREATE TABLE mail_out (
    id TEXT PRIMARY KEY,
    case_number BIGINT REFERENCES cases(number),
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    detail TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_out_case ON mail_out(case_number, id) WHERE case_number IS NOT NULL;

-- Every message gets its sending job from the database itself, in the statement that writes
-- it (one statement for all the messages of an event, however many recipients). The job's
-- attempts (8) are casedesk_core::mail::SEND_ATTEMPTS.
CREATE TRIGGER mail_out_send AFTER INSERT ON mail_out
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.created_at / 1000) >> 16, (NEW.created_at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'mail.send', json_object('mail', NEW.id), 'queued', 0, 8,
        NEW.created_at, NEW.created_at, NEW.created_at);
END;

-- Every message received through the mail gate, the original kept whole, and what became of
-- it. A second delivery of the same Message-ID (an MTA retrying) is recognised by the index.
CREATE TABLE mail_in (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    sender TEXT,
    subject TEXT NOT NULL,
    message_id TEXT,
    case_number BIGINT REFERENCES cases(number),
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE UNIQUE INDEX mail_in_message_id ON mail_in(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX mail_in_case ON mail_in(case_number, id) WHERE case_number IS NOT NULL;

-- Whether an account opens cases from email, and the intake fields they start from.
ALTER TABLE accounts ADD COLUMN email_intake TEXT;

-- Public events that may be mailed now get their dispatch job too (webhooks or not): the
-- fan-out writes the messages. Imported history is still not announced.
DROP TRIGGER case_events_dispatch;
CREATE TRIGGER case_events_dispatch AFTER INSERT ON case_events
WHEN (EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
      OR (NEW.public AND NEW.kind IN ('created', 'reply', 'info_requested', 'resumed', 'resolution_proposed',
                                      'resolution_confirmed', 'reopened', 'escalated')))
     AND json_extract(NEW.data, '$.imported') IS NULL
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.at / 1000) >> 16, (NEW.at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'case.event', json_object('case', NEW.case_number, 'event', NEW.id), 'queued', 0, 10,
        NEW.at, NEW.at, NEW.at);
END;
