-- Signals received on a day past its lowest shard watermark, and when the oldest of them arrived (from the batch log).
SELECT coalesce(sum(b.accepted), 0) AS signals, min(b.received_at) AS oldest, coalesce(max(b.batch_id), 0) AS newest_batch
FROM ingest_batches AS b
WHERE b.received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND b.received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
  AND b.accepted > 0
  AND b.batch_id > (SELECT coalesce(min(batch_id), 0) FROM distill_watermarks WHERE day = %(day)s)
