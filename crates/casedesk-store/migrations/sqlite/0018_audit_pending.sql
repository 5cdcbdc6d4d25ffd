-- PostgreSQL parks audit entries for a chainer (see its 0018); SQLite's writers take turns,
-- so each chains its own entries in its transaction and needs no table for it.
SELECT 1;
