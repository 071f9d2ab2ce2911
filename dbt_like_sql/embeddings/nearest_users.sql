-- The k users nearest a query vector in one model's space, optionally only those with a city, through that model's HNSW index.
WITH nearest AS MATERIALIZED (
    SELECT user_id, embedding::vector({dimension}) <=> %(query)s AS distance
    FROM profile_embeddings
    WHERE model_id = %(model_id)s
      AND user_id IS DISTINCT FROM %(exclude)s
      AND (%(city)s::text IS NULL OR cities @> ARRAY[%(city)s::text])
    ORDER BY distance
    LIMIT %(k)s
)
-- relaxed_order may return neighbours slightly out of order: sort them again
SELECT user_id, 1 - distance AS similarity FROM nearest ORDER BY distance, user_id
