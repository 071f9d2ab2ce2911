-- Records the outcome of posting an alert: delivered, or the error kept for the next try.
UPDATE alerts
SET delivered_at = CASE WHEN %(error)s::text IS NULL THEN now() END,
    delivery_error = %(error)s::text
WHERE alert_id = %(alert_id)s
