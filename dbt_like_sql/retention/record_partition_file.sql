-- Records an archive file of a dropped partition of a declared table, in the transaction that drops it.
INSERT INTO retention_archive_files (uri, table_name, rows, bytes) VALUES (%(uri)s, %(table)s, %(rows)s, %(bytes)s)
ON CONFLICT (uri) DO UPDATE SET rows = EXCLUDED.rows, bytes = EXCLUDED.bytes, archived_at = now()
