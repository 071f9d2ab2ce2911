-- Rows that still name the given users, per store and user: none once their erasure is complete.
SELECT 'raw_signals' AS store, user_id, count(*) AS rows
FROM raw_signals WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'signal_rejects', user_id, count(*)
FROM signal_rejects WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'user_profile_heads', user_id, count(*)
FROM user_profile_heads WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'user_profile_versions', user_id, count(*)
FROM user_profile_versions WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'profile_embeddings', user_id, count(*)
FROM profile_embeddings WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'embedding_rejects', user_id, count(*)
FROM embedding_rejects WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'llm_usage', u.user_id, count(*)
FROM llm_usage AS l, unnest(l.users) AS u(user_id)
WHERE l.users && %(users)s::text[] AND u.user_id = ANY(%(users)s::text[])
GROUP BY u.user_id
