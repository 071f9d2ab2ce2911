-- Bench baseline: one user's signals of a day, fetched the way a per-user worker would.
SELECT event_type, session_id, extract(hour FROM occurred_at)::int, city, item_id, dwell_ms, props->>'vibe'
FROM raw_signals
WHERE user_id = %(user_id)s
  AND received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
