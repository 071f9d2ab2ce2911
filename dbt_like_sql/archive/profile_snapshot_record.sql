-- The recorded snapshot of one date, if taken.
SELECT snapshot_date, uri, rows, bytes, sha256, schema_version, taken_at FROM profile_snapshots WHERE snapshot_date = %(snapshot_date)s
