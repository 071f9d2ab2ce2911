-- Bench data: logs `batches` ingestion batches received at a time, returning the first new batch id.
WITH logged AS (
    INSERT INTO ingest_batches (source, received_at, rows_in, accepted, duplicates, rejected, seconds)
    SELECT 'bench', %(received_at)s, %(batch_rows)s, %(batch_rows)s, 0, 0, 0
    FROM generate_series(1, %(batches)s)
    RETURNING batch_id
)
SELECT min(batch_id) FROM logged
