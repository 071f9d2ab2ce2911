-- Profiles with canonical text whose vector of a model is missing or older than the profile version, how many of those are quarantined, and some examples.
SELECT count(*) AS profiles,
       count(*) FILTER (WHERE stale) AS stale,
       count(*) FILTER (WHERE stale AND quarantined) AS quarantined,
       coalesce((array_agg(user_id ORDER BY user_id) FILTER (WHERE stale))[1:10], '{}') AS examples
FROM (
    SELECT p.user_id,
           r.profile_version IS NOT DISTINCT FROM p.version AS quarantined,
           e.profile_version IS DISTINCT FROM p.version
               AND btrim(profile_canonical_text(p.profile)) <> '' AS stale
    FROM user_profiles p
    LEFT JOIN profile_embeddings e ON e.user_id = p.user_id AND e.model_id = %(model_id)s
    LEFT JOIN embedding_rejects r ON r.user_id = p.user_id AND r.model_id = %(model_id)s
) AS freshness
