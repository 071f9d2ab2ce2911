-- Bench baseline: a sample of users with signals on a day.
SELECT DISTINCT user_id FROM raw_signals
WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC' AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
ORDER BY user_id
LIMIT %(limit)s
