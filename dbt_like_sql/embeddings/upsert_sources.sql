-- Records the profile version and text hash each staged vector was made from.
INSERT INTO profile_embedding_sources (user_id, model_id, profile_version, content_hash)
SELECT user_id, %(model_id)s, profile_version, content_hash
FROM embedding_staging
ON CONFLICT (user_id, model_id) DO UPDATE
SET profile_version = excluded.profile_version, content_hash = excluded.content_hash
