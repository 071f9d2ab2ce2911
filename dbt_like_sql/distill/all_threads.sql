-- DuckDB: every core, while a load has the machine to itself.
RESET threads
