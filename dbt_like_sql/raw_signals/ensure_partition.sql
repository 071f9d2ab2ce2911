-- Creates a receive day's raw_signals partition if missing.
SELECT ensure_raw_signals_partition(%(day)s)
