-- Per shard of the chunk: profiles updated and the new signals they merge (DuckDB).
SELECT shard, count(*), sum(signals) FROM documents GROUP BY shard
