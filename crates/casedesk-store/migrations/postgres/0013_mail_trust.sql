-- Mail that waits like a mail server, and mail held for review.
--
-- A message is retried until it is old enough to give up (casedesk-jobs decides by its age, not
-- by a count); the statement that writes a message gives its job casedesk_core::mail::SEND_ATTEMPTS
-- as a backstop. Jobs queued before this change get the same.
UPDATE jobs SET max_attempts = 100000 WHERE kind = 'mail.send' AND state IN ('queued', 'running');

-- When the next attempt of a message that is retrying is due (shown in the case's mail log).
ALTER TABLE mail_out ADD COLUMN next_attempt_at BIGINT;
-- A bounce names the message it reports by its Message-ID.
CREATE INDEX mail_out_message_id ON mail_out(message_id);

-- Held mail waits for support to release or discard it.
CREATE INDEX mail_in_held ON mail_in(received_at) WHERE outcome = 'held';
-- The flood breaker counts a sender's and a case's recent messages, and looks among them for
-- the same text arriving again by its fingerprint: from these indexes alone, reading at most
-- as many entries as its limit. The case's index also lists a case's received mail, so it
-- replaces the one that did.
ALTER TABLE mail_in ADD COLUMN fingerprint TEXT;
CREATE INDEX mail_in_sender ON mail_in(sender, received_at, outcome, fingerprint) WHERE sender IS NOT NULL;
CREATE INDEX mail_in_case_recent ON mail_in(case_number, received_at, outcome, fingerprint) WHERE case_number IS NOT NULL;
DROP INDEX mail_in_case;
