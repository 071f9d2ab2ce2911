-- The users of the chunk with new signals (DuckDB).
SELECT user_id FROM new_users
