-- The exact k nearest users (a scan of every vector of the model, no HNSW index): the baseline for recall, and the fallback when an index scan comes back short.
SELECT user_id, 1 - (embedding::vector({dimension}) <=> %(query)s) AS similarity
FROM profile_embeddings
WHERE model_id = %(model_id)s
  AND user_id IS DISTINCT FROM %(exclude)s
  AND (%(city)s::text IS NULL OR cities @> ARRAY[%(city)s::text])
-- "+ 0" keeps the planner off the HNSW index
ORDER BY (embedding::vector({dimension}) <=> %(query)s) + 0, user_id
LIMIT %(k)s
