-- Records the final counts of one ingestion batch.
UPDATE ingest_batches
SET rows_in = %(rows_in)s, accepted = %(accepted)s, duplicates = %(duplicates)s,
    rejected = %(rejected)s, rate_limited = %(rate_limited)s, seconds = %(seconds)s
WHERE batch_id = %(batch_id)s
