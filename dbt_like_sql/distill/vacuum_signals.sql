-- Bench data: vacuums and analyzes raw_signals, as autovacuum and the day's checks would have before the nightly run.
VACUUM (ANALYZE) raw_signals
