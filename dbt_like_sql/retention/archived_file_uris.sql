-- Archive files recorded for a declared table; any other file under its folder is a killed run's leftover.
SELECT uri FROM retention_archive_files WHERE table_name = %(table)s
