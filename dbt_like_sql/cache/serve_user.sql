-- The hot path: reads a user's segment from their profile (a segment of fewer than min_users users is folded into its city's '*' segment) and serves the segment's ready, unexpired answer, recording the request (a hit never moves expires_at); no row for a user without a profile, no entry on a miss.
WITH profile AS (
    SELECT profile_segment_persona(profile) AS persona, profile_segment_city(profile) AS city
    FROM user_profiles
    WHERE user_id = %(user_id)s
),
segment AS (
    SELECT
        -- The user counts whether or not user_segments has caught up with their profile yet.
        CASE WHEN 1 + (
            SELECT count(*) FROM (
                SELECT 1 FROM user_segments AS m
                WHERE m.city = p.city AND m.persona = p.persona AND m.user_id <> %(user_id)s
                LIMIT %(min_users)s - 1
            ) AS others
        ) < %(min_users)s THEN '*' ELSE p.persona END AS persona,
        p.city
    FROM profile AS p
),
served AS (
    UPDATE semantic_cache AS c
    SET hits = c.hits + 1
    FROM segment AS s
    WHERE c.city = s.city
      AND c.kind = %(kind)s
      AND c.locale = %(locale)s
      AND c.version_hash = %(version_hash)s
      AND c.persona = s.persona
      AND c.state = 'ready'
      AND c.expires_at > now()
    RETURNING c.entry_id, c.response, c.expires_at
),
logged AS (
    INSERT INTO semantic_cache_ledger (event, kind, segment_key, entry_id, user_hash)
    SELECT 'hit', %(kind)s, s.persona || ' · ' || s.city, v.entry_id, hashtextextended(%(user_id)s, 0)
    FROM served AS v
    CROSS JOIN segment AS s
)
SELECT s.persona, s.city, v.entry_id, v.response, v.expires_at
FROM segment AS s
LEFT JOIN served AS v ON true
