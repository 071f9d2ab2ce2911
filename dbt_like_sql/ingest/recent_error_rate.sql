-- Rows and invalid rows (rate-limited excluded) over the most recent batches since the breaker was last reset.
SELECT coalesce(sum(rows_in), 0) AS rows_in, coalesce(sum(rejected - rate_limited), 0) AS invalid
FROM (
    SELECT rows_in, rejected, rate_limited
    FROM ingest_batches, ingestion_state
    WHERE ingest_batches.created_at > coalesce(ingestion_state.reset_at, '-infinity')
    ORDER BY batch_id DESC
    LIMIT %(batches)s
) AS recent
