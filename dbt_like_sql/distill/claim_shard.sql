-- Locks one shard's watermark for this transaction (a concurrent run of the same shard waits) and returns it.
SELECT batch_id FROM distill_watermarks WHERE day = %(day)s AND shard = %(shard)s FOR UPDATE
