-- Whether a declared table exists and is partitioned ('p') or plain ('r'); no row when it does not exist (yet).
SELECT c.relkind::text FROM pg_class AS c WHERE c.oid = to_regclass(%(table)s)
