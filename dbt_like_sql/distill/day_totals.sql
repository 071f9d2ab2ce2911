-- What distillation has merged for a day so far, over its shards.
SELECT coalesce(sum(signals), 0)::bigint AS signals, coalesce(sum(profiles_updated), 0)::bigint AS profiles_updated,
       coalesce(min(batch_id), 0) AS distilled_upto
FROM distill_watermarks
WHERE day = %(day)s
