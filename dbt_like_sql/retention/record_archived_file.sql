-- Records an archive file of a declared table in the transaction that deletes its rows (ADBC, so $n parameters).
INSERT INTO retention_archive_files (uri, table_name, rows, bytes) VALUES ($1, $2, $3, $4)
