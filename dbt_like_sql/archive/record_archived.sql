-- Records a published, not yet verified, archive of a day (replacing an unverified or lost earlier one).
INSERT INTO archive_manifest (day, uri, rows, bytes, checksum, schema_version, archived_at, verified_at, dropped_at)
VALUES (%(day)s, %(uri)s, %(rows)s, %(bytes)s, %(checksum)s, %(schema_version)s, now(), NULL, NULL)
ON CONFLICT (day) DO UPDATE SET
    uri = EXCLUDED.uri,
    rows = EXCLUDED.rows,
    bytes = EXCLUDED.bytes,
    checksum = EXCLUDED.checksum,
    schema_version = EXCLUDED.schema_version,
    archived_at = EXCLUDED.archived_at,
    verified_at = NULL
WHERE archive_manifest.dropped_at IS NULL
