-- The oldest accepted batch its receive day's distillation has not seen yet (committed after it, or no record), and the signals waiting.
SELECT min(b.received_at) AS oldest, coalesce(sum(b.accepted), 0)::bigint AS signals
FROM ingest_batches AS b
LEFT JOIN distilled_days AS d ON d.day = (b.received_at AT TIME ZONE 'UTC')::date
WHERE b.accepted > 0
  AND (d.day IS NULL OR b.created_at > d.distilled_at)
