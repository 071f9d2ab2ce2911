-- The next profiles (by user_id, after a key) with no vector of this model for their version and not rejected at it: canonical text, hash, cities.
SELECT user_id, version, text, sha256(convert_to(text, 'UTF8')) AS content_hash, cities
FROM (
    SELECT p.user_id,
           p.version::bigint AS version,
           profile_canonical_text(p.profile) AS text,
           profile_cities(p.profile) AS cities
    FROM user_profiles p
    LEFT JOIN profile_embeddings e ON e.user_id = p.user_id AND e.model_id = %(model_id)s
    LEFT JOIN embedding_rejects r ON r.user_id = p.user_id AND r.model_id = %(model_id)s
    WHERE p.user_id > %(after)s
      AND e.profile_version IS DISTINCT FROM p.version
      AND r.profile_version IS DISTINCT FROM p.version
    ORDER BY p.user_id
    LIMIT %(limit)s
) AS stale
