-- Rows offered, rejected and rate-limited across the batches received on one day.
SELECT coalesce(sum(rows_in), 0), coalesce(sum(rejected), 0), coalesce(sum(rate_limited), 0)
FROM ingest_batches
WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
