-- Deletes the given users' cache segment memberships; rows per user.
WITH removed AS (
    DELETE FROM user_segments WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
)
SELECT user_id, count(*) FROM removed GROUP BY user_id
