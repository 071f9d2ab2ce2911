-- The largest tables (partitions counted in their parent), with heap+TOAST bytes, index bytes and estimated rows (live rows from the statistics or the last ANALYZE, whichever is larger).
SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS table_name,
       sum(pg_table_size(c.oid))::bigint AS table_bytes,
       sum(pg_indexes_size(c.oid))::bigint AS index_bytes,
       -- a partitioned parent's own statistics count its partitions' rows again
       sum(CASE WHEN c.relkind = 'p' THEN 0 ELSE greatest(s.n_live_tup, c.reltuples, 0) END)::bigint AS rows_estimate
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables AS s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%%'
  AND n.nspname NOT LIKE 'pg\_temp%%'
GROUP BY 1
ORDER BY sum(pg_table_size(c.oid) + pg_indexes_size(c.oid)) DESC, 1
LIMIT %(limit)s
