-- PostgreSQL's lists moved to `(-number)` indexes (see its 0019); SQLite's planner walks
-- its `(…, number)` indexes for `number DESC` already, so nothing changes here.
SELECT 1;
