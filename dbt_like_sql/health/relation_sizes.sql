-- The largest tables (partitions counted in their parent), with heap+TOAST bytes, index bytes and estimated rows.
SELECT coalesce(pg_partition_root(c.oid), c.oid)::regclass::text AS table_name,
       sum(pg_table_size(c.oid))::bigint AS table_bytes,
       sum(pg_indexes_size(c.oid))::bigint AS index_bytes,
       sum(greatest(c.reltuples, 0))::bigint AS rows_estimate
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%%'
  AND n.nspname NOT LIKE 'pg\_temp%%'
GROUP BY 1
ORDER BY sum(pg_table_size(c.oid) + pg_indexes_size(c.oid)) DESC, 1
LIMIT %(limit)s
