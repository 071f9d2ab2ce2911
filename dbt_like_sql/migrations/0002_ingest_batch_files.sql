-- The inputs of each ingestion batch: one batch may commit many small landing files at once, and each
-- file's checksum makes re-ingesting it a no-op.
CREATE TABLE ingest_batch_files (
    batch_id      bigint      NOT NULL REFERENCES ingest_batches ON DELETE CASCADE,
    source        text        NOT NULL,
    source_sha256 text        NOT NULL,
    received_at   timestamptz NOT NULL
);
CREATE INDEX ingest_batch_files_sha256 ON ingest_batch_files (source_sha256);
CREATE INDEX ingest_batch_files_batch ON ingest_batch_files (batch_id);

INSERT INTO ingest_batch_files (batch_id, source, source_sha256, received_at)
SELECT batch_id, source, source_sha256, received_at FROM ingest_batches WHERE source_sha256 IS NOT NULL;
DROP INDEX ingest_batches_source_sha256;
ALTER TABLE ingest_batches DROP COLUMN source_sha256;
