-- Users with distilled signals on the day (batches up to their shard's watermark) whose current profile is missing or older than the day.
WITH marks AS (
    SELECT shard, shards, batch_id FROM distill_watermarks WHERE day = %(day)s
),
users AS (
    SELECT DISTINCT s.user_id
    FROM raw_signals AS s
    JOIN marks AS m ON m.shard = mod(hashtextextended(s.user_id, 0) & 2147483647, m.shards)
    WHERE s.received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
      AND s.received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
      AND s.batch_id <= m.batch_id
)
SELECT
    count(*) AS users,
    count(*) FILTER (WHERE h.user_id IS NULL OR h.evidence_day < %(day)s) AS stale,
    (array_agg(u.user_id ORDER BY u.user_id) FILTER (WHERE h.user_id IS NULL OR h.evidence_day < %(day)s))[1:5] AS examples
FROM users AS u
LEFT JOIN user_profile_heads AS h USING (user_id)
