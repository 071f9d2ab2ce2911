-- Streams accepted signals straight into their day partition (no routing through the parent).
COPY {partition} (event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id)
FROM STDIN (FORMAT csv)
