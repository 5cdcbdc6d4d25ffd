-- Nothing changes on PostgreSQL: its search index is kept by its own trigger, which this
-- migration's SQLite twin replaces there (the backends keep the same migration numbers).
SELECT 1;
