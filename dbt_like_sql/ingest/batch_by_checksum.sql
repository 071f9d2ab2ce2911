-- A committed batch that holds a file of this exact content, if any (a file ingested but not yet moved).
SELECT batch_id FROM ingest_batch_files WHERE source_sha256 = %s LIMIT 1
