-- Deletes vectors (and their sources) of users who no longer have a profile (erased).
DELETE FROM profile_embeddings e
USING profile_embedding_sources s
WHERE e.user_id = s.user_id AND e.model_id = s.model_id
  AND NOT EXISTS (SELECT 1 FROM user_profile_heads h WHERE h.user_id = s.user_id)
