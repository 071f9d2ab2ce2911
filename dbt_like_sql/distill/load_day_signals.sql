-- Appends one part of the run's pending signals, streamed out of Postgres as CSV, to day_signals (DuckDB; the table gives the types).
COPY day_signals FROM $path (FORMAT csv, HEADER false, AUTO_DETECT false, DELIMITER ',', QUOTE '"', ESCAPE '"', ALLOW_QUOTED_NULLS false)
