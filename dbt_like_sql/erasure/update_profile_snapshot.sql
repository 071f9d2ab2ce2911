-- Describes a rewritten profile snapshot in its record, only while the record still describes the file that was rewritten.
UPDATE profile_snapshots
SET rows = %(rows)s, bytes = %(bytes)s, sha256 = %(checksum)s
WHERE snapshot_date = %(snapshot_date)s AND uri = %(uri)s
  AND rows = %(old_rows)s AND bytes = %(old_bytes)s AND sha256 = %(old_checksum)s
