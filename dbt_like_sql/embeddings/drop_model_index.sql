-- Drops a deleted model's HNSW index.
DROP INDEX IF EXISTS {index}
