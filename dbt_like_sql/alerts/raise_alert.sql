-- Opens an alert for a condition unless one is already open; returns the new alert's id (no row when it was open).
INSERT INTO alerts (alert_key, source, severity, summary, details, run_id)
VALUES (%(alert_key)s, %(source)s, %(severity)s, %(summary)s, %(details)s, %(run_id)s)
ON CONFLICT (alert_key) WHERE resolved_at IS NULL DO NOTHING
RETURNING alert_id
