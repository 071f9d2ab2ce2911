-- Event-weighted evidence per user and key (interest topic, city, vibe, item) of a chunk of shards' new signals (each shard past its own watermark) (DuckDB).
CREATE OR REPLACE TEMP TABLE new_keys AS
WITH weighted AS (
    SELECT
        user_id,
        city,
        vibe,
        -- Item evidence comes from acting on an item, not from seeing it in a list.
        CASE WHEN event_type IN ('click', 'dwell', 'save', 'book') THEN item_id END AS acted_item,
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
SELECT user_id, 'item', clean_key(acted_item), sum(weight)
FROM weighted WHERE acted_item IS NOT NULL GROUP BY user_id, acted_item
