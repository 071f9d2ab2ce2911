-- Describes a day's rewritten archive in its manifest, only while the manifest still describes the file that was rewritten.
UPDATE archive_manifest
SET rows = %(rows)s, bytes = %(bytes)s, checksum = %(checksum)s
WHERE day = %(day)s AND uri = %(uri)s
  AND rows = %(old_rows)s AND bytes = %(old_bytes)s AND checksum = %(old_checksum)s
