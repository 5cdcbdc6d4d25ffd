-- The SLA clock log of each case: append-only, one row per change holding the entries it
-- added (applied, started, paused, resumed, met, breached, warned, stopped) as a JSON array.
-- Every figure is derived from it again.
CREATE TABLE sla_events (
    case_number BIGINT NOT NULL REFERENCES cases(number),
    -- 1, 2, … per case; appends are serialised by the case row's version check.
    seq INTEGER NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (case_number, seq)
) WITHOUT ROWID;
-- Kept from the log in the transaction that appends to it: the earliest due time of a running
-- clock (queue views sort by it) and the next warning or breach to record (the scanner walks
-- the partial index from its start, so it reads only cases that are due). For the agent's
-- queue view by due time, a queue's cases with a running clock are indexed by due time, and
-- its open cases without one (waiting on the customer, solved) by number; both indexes are
-- partial, so a case is in at most one and closed cases in neither.
ALTER TABLE cases ADD COLUMN sla_due_at BIGINT;
ALTER TABLE cases ADD COLUMN sla_alert_at BIGINT;
CREATE INDEX cases_sla_alert ON cases(sla_alert_at) WHERE sla_alert_at IS NOT NULL;
CREATE INDEX cases_queue_due ON cases(queue, sla_due_at, number) WHERE sla_due_at IS NOT NULL;
CREATE INDEX cases_queue_waiting ON cases(queue, number) WHERE sla_due_at IS NULL AND status <> 'closed';
-- SLA settings managers change (warning share, on-hold pausing, duty managers); one row.
CREATE TABLE sla_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    spec TEXT NOT NULL
);
