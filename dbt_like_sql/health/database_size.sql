-- Size of the current database on disk, in bytes.
SELECT pg_database_size(current_database())
