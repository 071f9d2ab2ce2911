-- Describes a rewritten table archive file in its record, only while the record still describes the file that was rewritten.
UPDATE retention_archive_files
SET rows = %(rows)s, bytes = %(bytes)s
WHERE uri = %(uri)s AND rows = %(old_rows)s AND bytes = %(old_bytes)s
