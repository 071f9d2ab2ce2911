-- Every row of one day partition in archive order: by user, then receive time, so Parquet statistics let per-user and time filters skip row groups.
SELECT event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id
FROM {partition}
ORDER BY user_id, received_at, event_id
