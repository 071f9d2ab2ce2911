-- Pending signals per shard of the run (DuckDB), to cut the day into chunks of bounded size.
SELECT shard, count(*) FROM day_signals WHERE batch_id > $watermarks[shard + 1] GROUP BY shard ORDER BY shard
