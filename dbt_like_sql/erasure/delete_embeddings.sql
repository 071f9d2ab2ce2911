-- Deletes the profile vectors of the given users under every model (their sources cascade); rows per user.
WITH removed AS (
    DELETE FROM profile_embeddings WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
)
SELECT user_id, count(*) FROM removed GROUP BY user_id
