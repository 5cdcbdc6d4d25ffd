-- The account index of the audit trail cost every audited commit a page written at a random
-- place (one per account touched), which on SQLite's single writer slowed case creation by
-- several percent. What it served, an account's export for a security review, is rare and
-- streamed, so on SQLite it now reads the trail in order and filters; PostgreSQL keeps it.
DROP INDEX IF EXISTS audit_log_account;
