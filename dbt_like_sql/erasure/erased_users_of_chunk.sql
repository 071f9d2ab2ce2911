-- DuckDB: the users of a chunk whose salted hash is tombstoned (`users` and `tombstones` are Arrow tables).
SELECT user_id FROM users WHERE sha256($salt || user_id) IN (SELECT user_hash FROM tombstones)
