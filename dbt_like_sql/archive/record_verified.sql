-- Marks a day's archive verified once its re-read matched the partition; only the exact archive that was recorded.
UPDATE archive_manifest
SET verified_at = now()
WHERE day = %(day)s AND uri = %(uri)s AND rows = %(rows)s AND checksum = %(checksum)s AND bytes = %(bytes)s
  AND dropped_at IS NULL
RETURNING verified_at
