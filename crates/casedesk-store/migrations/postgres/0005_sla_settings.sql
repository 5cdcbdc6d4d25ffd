-- SLA calendars keep every version with the instant it took effect: business time in the past
-- is counted with the calendar that was in force then. The newest version is the calendar.
CREATE TABLE sla_calendar_versions (
    name TEXT NOT NULL,
    valid_from BIGINT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (name, valid_from)
);
-- Policies edited by managers; a plan and priority without a row uses the built-in default.
CREATE TABLE sla_policies (
    plan TEXT NOT NULL,
    priority TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (plan, priority)
);
-- The calendar an account's business-hours goals count on; NULL: the calendar named after the
-- region of its oldest production tenant (americas, eu, apac), stored or built in.
ALTER TABLE accounts ADD COLUMN sla_calendar TEXT;
