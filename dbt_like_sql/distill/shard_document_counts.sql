-- How many profiles one shard updates and from how many new signals (DuckDB).
SELECT count(*), coalesce(sum(signals), 0) FROM documents WHERE shard = $shard
