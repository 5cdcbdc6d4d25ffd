-- A case opened through the API has its messages (the acknowledgement, a P1's alert to the
-- customer success manager) written in the transaction that stores it. Its `created` event
-- says so, and then needs no `case.event` job unless a webhook endpoint may receive it; a job
-- written for the endpoints carries the mark, so the dispatcher does not write the messages
-- a second time.
ALTER TABLE case_events ADD COLUMN mails_planned BOOLEAN NOT NULL DEFAULT 0;

DROP TRIGGER case_events_dispatch;
CREATE TRIGGER case_events_dispatch AFTER INSERT ON case_events
WHEN (EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
      OR (NEW.public AND NOT NEW.mails_planned
          AND NEW.kind IN ('created', 'reply', 'info_requested', 'resumed', 'resolution_proposed',
                           'resolution_confirmed', 'reopened', 'escalated', 'incident_update')))
     AND json_extract(NEW.data, '$.imported') IS NULL
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.at / 1000) >> 16, (NEW.at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'case.event',
        json_object('case', NEW.case_number, 'event', NEW.id,
                    'mails_planned', json(CASE WHEN NEW.mails_planned THEN 'true' ELSE 'false' END)),
        'queued', 0, 10, NEW.at, NEW.at, NEW.at);
END;
