-- Deletes the refused-embedding records of the given users; rows per user.
WITH removed AS (
    DELETE FROM embedding_rejects WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
)
SELECT user_id, count(*) FROM removed GROUP BY user_id
