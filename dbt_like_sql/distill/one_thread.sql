-- DuckDB: one thread per query; chunks merged side by side are the parallelism.
SET threads = 1
