-- Stores the staged vectors for their model, replacing each user's previous vector of that model.
INSERT INTO profile_embeddings (user_id, model_id, cities, embedding)
SELECT user_id, %(model_id)s, cities, embedding
FROM embedding_staging
ON CONFLICT (user_id, model_id) DO UPDATE
SET cities = excluded.cities, embedding = excluded.embedding, embedded_at = now()
