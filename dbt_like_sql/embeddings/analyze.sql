-- Fresh planner statistics after a bulk load: the city filter's choice between the HNSW index and an exact scan depends on them.
ANALYZE profile_embeddings, profile_embedding_sources
