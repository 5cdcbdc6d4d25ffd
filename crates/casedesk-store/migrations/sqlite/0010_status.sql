-- Service status: incidents with their updates, the cases linked to them, and who is told
-- of them by email. Component states are derived from the open incidents, not stored.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    impact TEXT NOT NULL,
    regions TEXT NOT NULL,
    components TEXT NOT NULL,
    issue_areas TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX incidents_started ON incidents(started_at);
CREATE TABLE incident_updates (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    at BIGINT NOT NULL,
    state TEXT NOT NULL,
    impact TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates(incident_id, at);
CREATE TABLE incident_cases (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    case_number BIGINT NOT NULL REFERENCES cases(number),
    linked_at BIGINT NOT NULL,
    linked_by TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (incident_id, case_number)
);
CREATE INDEX incident_cases_case ON incident_cases(case_number);
CREATE TABLE status_subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE REFERENCES users(id),
    email TEXT NOT NULL,
    regions TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A resolved incident's update on a linked case is mailed like support's public messages.
DROP TRIGGER case_events_dispatch;
CREATE TRIGGER case_events_dispatch AFTER INSERT ON case_events
WHEN (EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
      OR (NEW.public AND NEW.kind IN ('created', 'reply', 'info_requested', 'resumed', 'resolution_proposed',
                                      'resolution_confirmed', 'reopened', 'escalated', 'incident_update')))
     AND json_extract(NEW.data, '$.imported') IS NULL
BEGIN
    INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (
        printf('%08x-%04x-7%03x-%04x-%012x', (NEW.at / 1000) >> 16, (NEW.at / 1000) & 65535,
               abs(random()) % 4096, 32768 + abs(random()) % 16384, abs(random()) % 281474976710656),
        'case.event', json_object('case', NEW.case_number, 'event', NEW.id), 'queued', 0, 10,
        NEW.at, NEW.at, NEW.at);
END;
