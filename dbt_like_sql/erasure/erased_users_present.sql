-- Erased users (tombstoned, request completed) still present in each live store, by salted hash.
WITH erased AS (
    SELECT user_hash FROM erasure_tombstones
    EXCEPT
    SELECT user_hash FROM erasure_requests
)
SELECT 'raw_signals' AS store, count(*) AS users
FROM (SELECT DISTINCT user_id FROM raw_signals) AS s
WHERE erasure_hash(%(salt)s, s.user_id) IN (SELECT user_hash FROM erased)
UNION ALL
SELECT 'user_profile_heads', count(*)
FROM user_profile_heads AS h
WHERE erasure_hash(%(salt)s, h.user_id) IN (SELECT user_hash FROM erased)
UNION ALL
SELECT 'user_profile_versions', count(*)
FROM (SELECT DISTINCT user_id FROM user_profile_versions) AS v
WHERE erasure_hash(%(salt)s, v.user_id) IN (SELECT user_hash FROM erased)
UNION ALL
SELECT 'profile_embeddings', count(*)
FROM (SELECT DISTINCT user_id FROM profile_embeddings) AS e
WHERE erasure_hash(%(salt)s, e.user_id) IN (SELECT user_hash FROM erased)
