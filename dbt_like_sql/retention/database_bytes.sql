-- Size of the current database on disk, for the capacity sensor.
SELECT pg_database_size(current_database())
