-- Every Parquet file written by a table retention policy.
SELECT uri FROM retention_archive_files ORDER BY uri
