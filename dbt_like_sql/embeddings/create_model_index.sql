-- HNSW cosine index over one model's vectors: partial on its model_id, over the column cast to its dimension.
CREATE INDEX IF NOT EXISTS {index} ON profile_embeddings
USING hnsw ((embedding::vector({dimension})) vector_cosine_ops)
WITH (m = {m}, ef_construction = {ef_construction})
WHERE model_id = {model_id}
