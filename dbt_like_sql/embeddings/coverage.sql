-- Profiles against one model: how many there are, how many are quarantined at their version, and how many have no vector and no rejection.
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE r.profile_version = p.version) AS quarantined,
       count(*) FILTER (WHERE e.user_id IS NULL AND r.profile_version IS DISTINCT FROM p.version) AS missing
FROM user_profiles p
LEFT JOIN profile_embeddings e ON e.user_id = p.user_id AND e.model_id = %(model_id)s
LEFT JOIN embedding_rejects r ON r.user_id = p.user_id AND r.model_id = %(model_id)s
