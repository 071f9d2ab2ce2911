-- Deletes the live signals of the given users (every day partition, sealed ones included); rows per user.
WITH removed AS (
    DELETE FROM raw_signals WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
)
SELECT user_id, count(*) FROM removed GROUP BY user_id
