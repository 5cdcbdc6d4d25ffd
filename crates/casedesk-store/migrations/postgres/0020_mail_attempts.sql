-- Every attempt at sending a message, written before the message is handed to the relay, so
-- an attempt whose result never came back (the node stopped, or the database was away while
-- it wrote the result) still shows in the mail log and is settled by the next attempt.
CREATE TABLE mail_attempts (
    mail_id TEXT NOT NULL REFERENCES mail_out(id),
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT NOT NULL,
    error TEXT,
    detail TEXT,
    PRIMARY KEY (mail_id, attempt)
);
