-- Locks the oldest recent alert not yet posted to the webhook and not tried in this pass; other senders skip it.
SELECT alert_id, alert_key, source, severity, summary, details, run_id, raised_at, resolved_at
FROM alerts
WHERE delivered_at IS NULL
  AND raised_at > now() - make_interval(hours => %(max_age_hours)s)
  AND alert_id <> ALL(%(tried)s::bigint[])
ORDER BY raised_at, alert_id
LIMIT 1
FOR UPDATE SKIP LOCKED
