-- The declared bounds of a raw_signals partition, NULL when it does not exist.
SELECT pg_get_expr(c.relpartbound, c.oid)
FROM pg_class AS c
JOIN pg_inherits AS i ON i.inhrelid = c.oid AND i.inhparent = 'raw_signals'::regclass
WHERE c.relname = %(partition)s
