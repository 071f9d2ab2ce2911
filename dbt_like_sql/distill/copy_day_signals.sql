-- Streams a day's signals of batches in (after, upto] with their user shard and the props distillation reads.
COPY (
    SELECT
        user_id,
        mod(hashtextextended(user_id, 0) & 2147483647, %(shards)s) AS shard,
        batch_id,
        event_type,
        session_id,
        extract(hour FROM occurred_at)::int AS hour,
        city,
        item_id,
        dwell_ms,
        props->>'vibe' AS vibe,
        props->>'category' AS category,
        CASE WHEN event_type = 'chat_message' THEN left(props->>'text', %(chat_chars)s) END AS chat_text,
        CASE WHEN event_type = 'chat_message' THEN occurred_at END AS chat_at
    FROM raw_signals
    WHERE received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
      AND received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
      AND batch_id > %(after)s
      AND batch_id <= %(upto)s
      AND mod(hashtextextended(user_id, 0) & 2147483647, %(shards)s) = ANY(%(shard_set)s)
) TO STDOUT (FORMAT csv)
