-- Profiles against one model: how many there are, how many are quarantined at their version, and how many have no vector and no rejection.
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE r.profile_version = h.version) AS quarantined,
       count(*) FILTER (WHERE s.user_id IS NULL AND r.profile_version IS DISTINCT FROM h.version) AS missing
FROM user_profile_heads h
LEFT JOIN profile_embedding_sources s ON s.user_id = h.user_id AND s.model_id = %(model_id)s
LEFT JOIN embedding_rejects r ON r.user_id = h.user_id AND r.model_id = %(model_id)s
