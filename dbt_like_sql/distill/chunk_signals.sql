-- The signals of a chunk of shards not yet distilled, each shard past its own watermark (DuckDB over the run's `day_signals`).
CREATE OR REPLACE TABLE chunk_signals AS
SELECT * FROM day_signals
WHERE list_contains($chunk, shard) AND batch_id > $watermarks[shard + 1]
