-- Deletes the current-profile heads of the given users; rows per user.
WITH removed AS (
    DELETE FROM user_profile_heads WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
)
SELECT user_id, count(*) FROM removed GROUP BY user_id
