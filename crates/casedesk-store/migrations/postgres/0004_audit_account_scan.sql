-- SQLite dropped its account index on the audit trail here (see its 0004); PostgreSQL writes
-- in parallel and keeps the index for account exports. Kept so both backends share versions.
SELECT 1;
