-- Quarantined rows of one receive day by reason.
SELECT reason, count(*)
FROM signal_rejects
WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY reason
ORDER BY count(*) DESC
