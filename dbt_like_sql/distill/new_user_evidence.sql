-- Per-user evidence of a chunk of shards' new signals (each shard past its own watermark) (DuckDB): counts by type, hours, sessions, dwell, saved and booked items, recent chat.
CREATE OR REPLACE TEMP TABLE new_users AS
SELECT
    user_id,
    any_value(shard) AS shard,
    count(*) AS signals,
    count(DISTINCT session_id) AS sessions,
    coalesce(sum(dwell_ms), 0) / 1000.0 AS dwell_seconds,
    {
        'view': count(*) FILTER (WHERE event_type = 'view'),
        'click': count(*) FILTER (WHERE event_type = 'click'),
        'scroll': count(*) FILTER (WHERE event_type = 'scroll'),
        'dwell': count(*) FILTER (WHERE event_type = 'dwell'),
        'search': count(*) FILTER (WHERE event_type = 'search'),
        'save': count(*) FILTER (WHERE event_type = 'save'),
        'book': count(*) FILTER (WHERE event_type = 'book'),
        'chat_message': count(*) FILTER (WHERE event_type = 'chat_message')
    } AS engagement,
    -- Signals per UTC hour; 24 filtered counts are several times faster than histogram().
    [
        count(*) FILTER (WHERE hour = 0), count(*) FILTER (WHERE hour = 1), count(*) FILTER (WHERE hour = 2), count(*) FILTER (WHERE hour = 3),
        count(*) FILTER (WHERE hour = 4), count(*) FILTER (WHERE hour = 5), count(*) FILTER (WHERE hour = 6), count(*) FILTER (WHERE hour = 7),
        count(*) FILTER (WHERE hour = 8), count(*) FILTER (WHERE hour = 9), count(*) FILTER (WHERE hour = 10), count(*) FILTER (WHERE hour = 11),
        count(*) FILTER (WHERE hour = 12), count(*) FILTER (WHERE hour = 13), count(*) FILTER (WHERE hour = 14), count(*) FILTER (WHERE hour = 15),
        count(*) FILTER (WHERE hour = 16), count(*) FILTER (WHERE hour = 17), count(*) FILTER (WHERE hour = 18), count(*) FILTER (WHERE hour = 19),
        count(*) FILTER (WHERE hour = 20), count(*) FILTER (WHERE hour = 21), count(*) FILTER (WHERE hour = 22), count(*) FILTER (WHERE hour = 23)
    ] AS hour_counts,
    -- The newest saved and booked items and chat messages: top-N aggregates, ties broken by value,
    -- cost a fraction of whole lists.
    [clean_key(item) FOR item IN coalesce(max_by(item_id, {'batch': batch_id, 'item': item_id}, $max_items)
        FILTER (WHERE event_type = 'save' AND item_id IS NOT NULL), []) IF clean_key(item) IS NOT NULL] AS saved,
    [clean_key(item) FOR item IN coalesce(max_by(item_id, {'batch': batch_id, 'item': item_id}, $max_items)
        FILTER (WHERE event_type = 'book' AND item_id IS NOT NULL), []) IF clean_key(item) IS NOT NULL] AS booked,
    coalesce(max_by(chat_text, {'at': chat_at, 'text': chat_text}, $chat_samples) FILTER (WHERE chat_text IS NOT NULL), []) AS chat
FROM day_signals
WHERE list_contains($chunk, shard) AND batch_id > $watermarks[shard + 1]
GROUP BY user_id
