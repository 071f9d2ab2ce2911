-- One user's profile version and canonical text, with their vector of a model and the profile version it was made for.
SELECT p.version::bigint AS version, profile_canonical_text(p.profile) AS text, s.profile_version, e.embedding
FROM user_profiles p
LEFT JOIN profile_embedding_sources s ON s.user_id = p.user_id AND s.model_id = %(model_id)s
LEFT JOIN profile_embeddings e ON e.user_id = p.user_id AND e.model_id = %(model_id)s
WHERE p.user_id = %(user_id)s
