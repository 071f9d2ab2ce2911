-- Opens the log row of one ingestion batch; its counts are filled in when the batch commits.
INSERT INTO ingest_batches (source, received_at, rows_in, accepted, duplicates, rejected, seconds)
VALUES (%(source)s, %(received_at)s, 0, 0, 0, 0, 0)
RETURNING batch_id
