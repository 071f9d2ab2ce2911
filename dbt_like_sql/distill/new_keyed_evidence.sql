-- Event-weighted evidence per user and key (interest topic, city, vibe, item) of a chunk of shards' new signals (each shard past its own watermark) (DuckDB).
CREATE OR REPLACE TEMP TABLE new_keys AS
WITH weighted AS (
    SELECT
        user_id,
        city,
        vibe,
        item_id,
        coalesce(category, nullif(split_part(item_id, '_', 1), '')) AS topic,
        event_weight(event_type) AS weight
    FROM day_signals
    WHERE list_contains($chunk, shard) AND batch_id > $watermarks[shard + 1]
)
SELECT user_id, 'interest' AS kind, clean_key(topic) AS key, sum(weight) AS evidence
FROM weighted WHERE topic IS NOT NULL GROUP BY user_id, topic
UNION ALL
SELECT user_id, 'city', clean_key(city), sum(weight)
FROM weighted WHERE city IS NOT NULL GROUP BY user_id, city
UNION ALL
SELECT user_id, 'vibe', clean_key(vibe), sum(weight)
FROM weighted WHERE vibe IS NOT NULL GROUP BY user_id, vibe
UNION ALL
SELECT user_id, 'item', clean_key(item_id), sum(weight)
FROM weighted WHERE item_id IS NOT NULL GROUP BY user_id, item_id
