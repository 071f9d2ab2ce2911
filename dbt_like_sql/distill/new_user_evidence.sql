-- Per-user evidence of a chunk of shards' new signals (each shard past its own watermark) (DuckDB): counts by type, hours, sessions, dwell, saved and booked items, recent chat.
CREATE OR REPLACE TEMP TABLE new_users AS
SELECT
    user_id,
    any_value(shard) AS shard,
    count(*) AS signals,
    -- Sessions not already counted by an earlier run of the day (copy_day_signals).
    count(DISTINCT new_session_id) AS sessions,
    coalesce(sum(dwell_ms), 0) / 1000.0 AS dwell_seconds,
    {
        'view': count_if(event_type = 'view'),
        'click': count_if(event_type = 'click'),
        'scroll': count_if(event_type = 'scroll'),
        'dwell': count_if(event_type = 'dwell'),
        'search': count_if(event_type = 'search'),
        'save': count_if(event_type = 'save'),
        'book': count_if(event_type = 'book'),
        'chat_message': count_if(event_type = 'chat_message')
    } AS engagement,
    -- Signals per UTC hour; 24 count_if are several times faster than histogram(), and count_if a
    -- quarter faster than count(*) FILTER.
    [
        count_if(hour = 0), count_if(hour = 1), count_if(hour = 2), count_if(hour = 3),
        count_if(hour = 4), count_if(hour = 5), count_if(hour = 6), count_if(hour = 7),
        count_if(hour = 8), count_if(hour = 9), count_if(hour = 10), count_if(hour = 11),
        count_if(hour = 12), count_if(hour = 13), count_if(hour = 14), count_if(hour = 15),
        count_if(hour = 16), count_if(hour = 17), count_if(hour = 18), count_if(hour = 19),
        count_if(hour = 20), count_if(hour = 21), count_if(hour = 22), count_if(hour = 23)
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
