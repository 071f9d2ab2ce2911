-- Size of one day partition: rows, distinct users, bytes on disk (0 when the partition does not exist).
SELECT
    count(*) AS signals,
    count(DISTINCT user_id) AS users,
    coalesce(pg_total_relation_size(to_regclass(%(partition)s)), 0) AS bytes
FROM raw_signals
WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
