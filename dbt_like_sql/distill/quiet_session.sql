-- DuckDB: no progress bar on the terminal; a run reports through its metadata and logs.
SET enable_progress_bar = false
