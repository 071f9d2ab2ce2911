-- Records the files a batch commits, with their checksums, in the batch's transaction.
INSERT INTO ingest_batch_files (batch_id, source, source_sha256, received_at)
SELECT %(batch_id)s, source, source_sha256, received_at
FROM unnest(%(sources)s::text[], %(checksums)s::text[], %(received_at)s::timestamptz[]) AS f (source, source_sha256, received_at)
