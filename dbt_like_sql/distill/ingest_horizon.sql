-- The newest ingestion batch; under the SHARE lock, every batch up to it has committed or rolled back for good.
SELECT coalesce(max(batch_id), 0) AS horizon, now() AS taken_at FROM ingest_batches
