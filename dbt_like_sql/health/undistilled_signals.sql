-- The oldest accepted batch past the lowest shard watermark of its receive day, and the signals still waiting.
SELECT min(b.received_at) AS oldest, coalesce(sum(b.accepted), 0)::bigint AS signals
FROM ingest_batches AS b
LEFT JOIN (SELECT day, min(batch_id) AS batch_id FROM distill_watermarks GROUP BY day) AS w
    ON w.day = (b.received_at AT TIME ZONE 'UTC')::date
WHERE b.accepted > 0
  AND b.batch_id > coalesce(w.batch_id, 0)
