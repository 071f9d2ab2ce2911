-- Stops writes to a partition (reads go on) until it is archived and dropped in the same transaction.
LOCK TABLE {table} IN SHARE MODE
