-- Manifest rows of verified archives whose day is still held in Postgres: the days retention may drop.
SELECT day, uri, rows, bytes, checksum, schema_version, archived_at, verified_at, dropped_at
FROM archive_manifest
WHERE verified_at IS NOT NULL AND dropped_at IS NULL
ORDER BY day
