-- Batches, rows offered and seconds spent across every ingestion batch on record.
SELECT count(*), coalesce(sum(rows_in), 0), coalesce(sum(seconds), 0) FROM ingest_batches
