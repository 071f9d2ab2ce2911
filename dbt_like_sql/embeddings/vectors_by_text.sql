-- One stored vector of this model for each given text hash that has one (made for any user with the same canonical text).
SELECT DISTINCT ON (s.content_hash) s.content_hash, e.embedding
FROM profile_embedding_sources AS s
JOIN profile_embeddings AS e USING (user_id, model_id)
WHERE s.model_id = %(model_id)s AND s.content_hash = ANY(%(hashes)s)
