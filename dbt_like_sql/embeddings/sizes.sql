-- Bytes on disk of the vectors (table, TOAST and all indexes) and of one model's HNSW index.
SELECT pg_total_relation_size('profile_embeddings') AS table_bytes,
       coalesce(pg_relation_size(to_regclass(%(index)s)), 0) AS index_bytes
