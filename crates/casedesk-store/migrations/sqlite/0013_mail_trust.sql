-- Mail that waits like a mail server, and mail held for review.
--
-- A message is retried until it is old enough to give up (casedesk-jobs decides by its age, not
-- by a count), so its job's attempt limit is only a backstop: casedesk_core::mail::SEND_ATTEMPTS.
DROP TRIGGER mail_out_send;
CREATE TRIGGER mail_out_send AFTER INSERT ON mail_out
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.created_at / 1000) >> 16, (NEW.created_at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'mail.send', json_object('mail', NEW.id), 'queued', 0, 100000,
        NEW.created_at, NEW.created_at, NEW.created_at);
END;
UPDATE jobs SET max_attempts = 100000 WHERE kind = 'mail.send' AND state IN ('queued', 'running');

-- When the next attempt of a message that is retrying is due (shown in the case's mail log).
ALTER TABLE mail_out ADD COLUMN next_attempt_at BIGINT;
-- A bounce names the message it reports by its Message-ID (and a reply the one it answers).
CREATE INDEX mail_out_message_id ON mail_out(message_id);
-- At most one notice an hour goes to an address (a stranger's ticket tool answering each).
CREATE INDEX mail_out_notices ON mail_out(recipient, created_at) WHERE kind = 'notice';

-- Held mail waits for support to release or discard it.
CREATE INDEX mail_in_held ON mail_in(received_at) WHERE outcome = 'held';
-- The flood breaker counts a sender's and a case's recent messages, and looks among them for
-- the same text arriving again by its fingerprint: from these indexes alone, reading at most
-- as many entries as its limit. Only mail whose sender was not found false counts (the
-- flood_* columns are set for it): forged mail in a customer's name, held anyway, must not
-- use up the customer's allowance.
ALTER TABLE mail_in ADD COLUMN fingerprint TEXT;
ALTER TABLE mail_in ADD COLUMN flood_sender TEXT;
ALTER TABLE mail_in ADD COLUMN flood_case BIGINT;
CREATE INDEX mail_in_flood_sender ON mail_in(flood_sender, received_at, outcome, fingerprint) WHERE flood_sender IS NOT NULL;
CREATE INDEX mail_in_flood_case ON mail_in(flood_case, received_at, outcome, fingerprint) WHERE flood_case IS NOT NULL;
