-- DuckDB: timestamps read and written in UTC, like the Postgres sessions.
SET TimeZone = 'UTC'
