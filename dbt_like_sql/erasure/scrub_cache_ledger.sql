-- Forgets the given users' requests in the cache ledger: their 64-bit id hash becomes NULL and the savings figures stay; rows per user.
WITH hashed AS (
    SELECT user_id, hashtextextended(user_id, 0) AS user_hash FROM unnest(%(users)s::text[]) AS u(user_id)
), scrubbed AS (
    UPDATE semantic_cache_ledger AS l
    SET user_hash = NULL
    FROM hashed AS h
    WHERE l.user_hash = h.user_hash
    RETURNING h.user_id
)
SELECT user_id, count(*) FROM scrubbed GROUP BY user_id
