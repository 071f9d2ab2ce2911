-- Records that the shard's batches up to `upto` are merged into profiles (same transaction as the profiles).
UPDATE distill_watermarks
SET batch_id = %(upto)s,
    signals = signals + %(signals)s,
    profiles_updated = profiles_updated + %(profiles)s,
    run_id = %(run_id)s,
    updated_at = now()
WHERE day = %(day)s AND shard = %(shard)s
