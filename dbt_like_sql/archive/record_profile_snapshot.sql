-- Records a verified profile snapshot; a date's snapshot is written once.
INSERT INTO profile_snapshots (snapshot_date, uri, rows, bytes, sha256, schema_version, taken_at)
VALUES (%(snapshot_date)s, %(uri)s, %(rows)s, %(bytes)s, %(sha256)s, %(schema_version)s, %(taken_at)s)
ON CONFLICT (snapshot_date) DO NOTHING
