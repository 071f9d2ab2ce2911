-- Profiles with canonical text whose vector of a model is missing or older than the profile version, how many of those are quarantined, and some examples.
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE t.has_text) AS stale,
       count(*) FILTER (WHERE t.has_text AND v.quarantined) AS quarantined,
       coalesce((array_agg(v.user_id ORDER BY v.user_id) FILTER (WHERE t.has_text))[1:10], '{}') AS examples
FROM (
    SELECT h.user_id,
           s.profile_version IS DISTINCT FROM h.version AS moved,
           r.profile_version IS NOT DISTINCT FROM h.version AS quarantined
    FROM user_profile_heads h
    LEFT JOIN profile_embedding_sources s ON s.user_id = h.user_id AND s.model_id = %(model_id)s
    LEFT JOIN embedding_rejects r ON r.user_id = h.user_id AND r.model_id = %(model_id)s
) AS v
-- the document is read only for profiles whose version moved
LEFT JOIN LATERAL (
    SELECT btrim(profile_canonical_text(p.profile)) <> '' AS has_text
    FROM user_profiles p
    WHERE v.moved AND p.user_id = v.user_id
) AS t ON true
