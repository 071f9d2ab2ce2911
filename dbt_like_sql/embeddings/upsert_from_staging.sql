-- Stores the staged vectors for their model, replacing each user's previous vector of that model.
INSERT INTO profile_embeddings (user_id, model_id, profile_version, content_hash, cities, embedding)
SELECT user_id, %(model_id)s, profile_version, content_hash, cities, embedding
FROM embedding_staging
ON CONFLICT (user_id, model_id) DO UPDATE
SET profile_version = excluded.profile_version,
    content_hash = excluded.content_hash,
    cities = excluded.cities,
    embedding = excluded.embedding,
    embedded_at = now()
