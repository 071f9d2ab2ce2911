-- The manifest row of one receive day, if it was ever archived.
SELECT day, uri, rows, bytes, checksum, schema_version, archived_at, verified_at, dropped_at
FROM archive_manifest
WHERE day = %(day)s
