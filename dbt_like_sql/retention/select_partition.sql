-- Every row of one partition of a declared table, for its archive before the drop.
SELECT * FROM {table}
