-- Deletes the cached answers of the given users' segments that were reasoned from fewer than the minimum of users; answers per user. Runs before their segments and profiles go.
WITH segments AS (
    SELECT user_id, city, persona FROM user_segments WHERE user_id = ANY(%(users)s::text[])
    UNION
    -- a profile newer than the cache's last refresh may have moved the user to another segment
    SELECT user_id, profile_segment_city(profile), profile_segment_persona(profile)
    FROM user_profiles WHERE user_id = ANY(%(users)s::text[])
), removed AS (
    DELETE FROM semantic_cache AS c
    USING (SELECT DISTINCT city, persona FROM segments) AS s
    WHERE c.city = s.city AND c.persona = s.persona AND c.segment_users < %(min_users)s
    RETURNING c.city, c.persona
)
SELECT s.user_id, count(*) FROM segments AS s JOIN removed AS r USING (city, persona) GROUP BY s.user_id
