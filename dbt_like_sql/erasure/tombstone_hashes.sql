-- Every tombstoned hash, in hex (as DuckDB's sha256 writes it).
SELECT encode(user_hash, 'hex') AS user_hash FROM erasure_tombstones
