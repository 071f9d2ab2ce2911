-- The next profiles (by user_id, after a key) whose version has no vector of this model and was not rejected: version, canonical text, its hash, cities, and whether the text is unchanged.
WITH candidates AS MATERIALIZED (
    -- versions only, from the heads and the narrow sources table: cheap even when nothing changed
    SELECT h.user_id
    FROM user_profile_heads h
    LEFT JOIN profile_embedding_sources s ON s.user_id = h.user_id AND s.model_id = %(model_id)s
    LEFT JOIN embedding_rejects r ON r.user_id = h.user_id AND r.model_id = %(model_id)s
    WHERE h.user_id > %(after)s
      AND s.profile_version IS DISTINCT FROM h.version
      AND r.profile_version IS DISTINCT FROM h.version
    ORDER BY h.user_id
    LIMIT %(limit)s
), documents AS (
    SELECT p.user_id,
           p.version::bigint AS version,
           profile_canonical_text(p.profile) AS text,
           profile_cities(p.profile) AS cities,
           s.content_hash AS stored_hash
    FROM candidates c
    JOIN user_profiles p ON p.user_id = c.user_id
    LEFT JOIN profile_embedding_sources s ON s.user_id = c.user_id AND s.model_id = %(model_id)s
)
SELECT user_id, version, text, sha256(convert_to(text, 'UTF8')) AS content_hash, cities,
       stored_hash IS NOT DISTINCT FROM sha256(convert_to(text, 'UTF8')) AS unchanged
FROM documents
ORDER BY user_id
