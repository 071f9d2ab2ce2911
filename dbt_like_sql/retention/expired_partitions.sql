-- Range partitions of a declared table whose upper bound is at or before the cutoff: every row in them is expired.
SELECT n.nspname AS schema, c.relname AS partition, bound.upper_bound
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
    SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper_bound
) AS bound
WHERE i.inhparent = to_regclass(%(table)s)
  AND NOT i.inhdetachpending
  AND bound.upper_bound <= %(cutoff)s
ORDER BY bound.upper_bound
