-- Closes a receive day's partition to new rows (creating it empty if it never existed); returns its name.
SELECT seal_raw_signals_partition(%(day)s::date)
