-- Cache rows that still name the given users (segment memberships, hashed ledger requests), per store and user.
SELECT 'user_segments' AS store, user_id, count(*) AS rows
FROM user_segments WHERE user_id = ANY(%(users)s::text[]) GROUP BY user_id
UNION ALL
SELECT 'semantic_cache_ledger', u.user_id, count(*)
FROM semantic_cache_ledger AS l
JOIN unnest(%(users)s::text[]) AS u(user_id) ON l.user_hash = hashtextextended(u.user_id, 0)
GROUP BY u.user_id
