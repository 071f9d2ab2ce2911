-- The shard watermarks of one receive day.
SELECT shard, shards, batch_id FROM distill_watermarks WHERE day = %(day)s ORDER BY shard
