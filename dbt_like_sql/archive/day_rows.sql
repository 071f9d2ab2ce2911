-- Every row of one day partition, unordered: a plain scan, the archive sorts them outside the database.
SELECT event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id
FROM {partition}
