-- A committed batch for this exact file content, if any (a file ingested but not yet moved).
SELECT batch_id FROM ingest_batches WHERE source_sha256 = %s LIMIT 1
