-- Records that a verified day left Postgres.
UPDATE archive_manifest SET dropped_at = now() WHERE day = %(day)s AND verified_at IS NOT NULL AND dropped_at IS NULL
