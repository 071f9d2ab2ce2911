-- Every open alert, errors first, then oldest first.
SELECT alert_id, alert_key, source, severity, summary, details, run_id, raised_at, resolved_at
FROM alerts
WHERE resolved_at IS NULL
ORDER BY severity = 'error' DESC, raised_at, alert_id
