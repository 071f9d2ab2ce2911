-- Drops a detached day table (or a partition of a declared table) whose rows are archived or expired.
DROP TABLE {table}
