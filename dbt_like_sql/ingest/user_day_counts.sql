-- Signals already stored today for the given users (for the per-user daily cap).
SELECT user_id, count(*) AS stored
FROM raw_signals
WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
  AND user_id = ANY(%(users)s)
GROUP BY user_id
