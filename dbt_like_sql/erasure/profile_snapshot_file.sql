-- A profile snapshot file as its record describes it (read under the date's lock).
SELECT uri, rows, bytes, sha256 AS checksum FROM profile_snapshots WHERE snapshot_date = %(snapshot_date)s
