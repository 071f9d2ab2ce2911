-- Deletes the quarantined lines of the given users, and lines without a parsed user whose raw text names one in quotes; rows per user.
WITH by_user AS (
    DELETE FROM signal_rejects WHERE user_id = ANY(%(users)s::text[]) RETURNING user_id
), unparsed AS (
    -- only lines whose user could not be parsed (few) are searched, once per erased id
    DELETE FROM signal_rejects AS r
    USING unnest(%(users)s::text[]) AS u(user_id)
    WHERE r.user_id IS NULL AND strpos(r.raw, '"' || u.user_id || '"') > 0
    RETURNING u.user_id
)
SELECT user_id, count(*) FROM (SELECT user_id FROM by_user UNION ALL SELECT user_id FROM unparsed) AS removed
GROUP BY user_id
