-- Locks a table archive file's record and returns it (its checksum is the file's sha256, kept only while a rewrite is journaled).
SELECT uri, rows, bytes, '' AS checksum FROM retention_archive_files WHERE uri = %(uri)s FOR UPDATE
