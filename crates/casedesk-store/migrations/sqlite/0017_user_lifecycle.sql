-- A user can be deactivated: they keep their name on the history they wrote, but sign in,
-- tokens and mail no longer work for them. NULL: active.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
