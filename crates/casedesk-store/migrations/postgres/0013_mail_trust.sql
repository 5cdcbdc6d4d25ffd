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

-- Held mail waits for support to release or discard it; the flood breaker counts a sender's
-- recent messages.
CREATE INDEX mail_in_held ON mail_in(received_at) WHERE outcome = 'held';
CREATE INDEX mail_in_sender ON mail_in(sender, received_at) WHERE sender IS NOT NULL;
CREATE INDEX mail_in_case_recent ON mail_in(case_number, received_at) WHERE case_number IS NOT NULL;
