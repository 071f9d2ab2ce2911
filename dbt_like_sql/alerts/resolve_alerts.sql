-- Closes the open alerts of the given conditions; returns what was closed.
UPDATE alerts
SET resolved_at = now()
WHERE alert_key = ANY(%(alert_keys)s) AND resolved_at IS NULL
RETURNING alert_id, alert_key, source, severity, summary, details, run_id, raised_at, resolved_at
