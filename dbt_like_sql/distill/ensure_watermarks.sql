-- Creates a day's shard watermarks at zero on its first distillation; a day keeps that shard count.
INSERT INTO distill_watermarks (day, shard, shards)
SELECT %(day)s, shard, %(shards)s
FROM generate_series(0, %(shards)s - 1) AS shard
WHERE NOT EXISTS (SELECT 1 FROM distill_watermarks WHERE day = %(day)s)
ON CONFLICT (day, shard) DO NOTHING
