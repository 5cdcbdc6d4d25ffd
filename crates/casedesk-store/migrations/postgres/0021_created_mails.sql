-- A case opened through the API has its messages (the acknowledgement, a P1's alert to the
-- customer success manager) written in the transaction that stores it. Its `created` event
-- says so, and then needs no `case.event` job unless a webhook endpoint may receive it; a job
-- written for the endpoints carries the mark, so the dispatcher does not write the messages
-- a second time.
ALTER TABLE case_events ADD COLUMN mails_planned BOOLEAN NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION case_events_dispatch() RETURNS trigger AS $$
BEGIN
    IF (EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
        OR (NEW.public AND NOT NEW.mails_planned
            AND NEW.kind IN ('created', 'reply', 'info_requested', 'resumed', 'resolution_proposed',
                             'resolution_confirmed', 'reopened', 'escalated', 'incident_update')))
       AND (NEW.data::jsonb -> 'imported') IS NULL THEN
        INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
        VALUES (
            lpad(to_hex((NEW.at / 1000) >> 16), 8, '0') || '-' || lpad(to_hex((NEW.at / 1000) & 65535), 4, '0')
                || '-7' || lpad(to_hex(floor(random() * 4096)::int), 3, '0')
                || '-' || to_hex(32768 + floor(random() * 16384)::int)
                || '-' || lpad(to_hex(floor(random() * 281474976710656)::bigint), 12, '0'),
            'case.event',
            json_build_object('case', NEW.case_number, 'event', NEW.id, 'mails_planned', NEW.mails_planned)::text,
            'queued', 0, 10, NEW.at, NEW.at, NEW.at);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
