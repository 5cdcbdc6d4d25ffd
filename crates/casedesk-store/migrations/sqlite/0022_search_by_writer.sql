-- A new case's search row is written by the statement that stores the case (on the writer
-- thread, once for all the cases of a group commit) rather than by a trigger: a trigger wrote
-- it case by case, and FTS5 writes out its in-memory index at every statement of a
-- transaction that follows a write to it, so a group of creates left one small index segment
-- per case for later merges to undo. Messages added later still update the row by trigger.
DROP TRIGGER case_search_new;
