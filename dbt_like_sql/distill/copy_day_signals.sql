-- Streams a day's signals of batches in (after, upto] with their user shard and the props distillation reads.
-- A session already counted by an earlier run of the day (in a batch at or below its shard's watermark)
-- comes out as a NULL new_session_id, so a session spanning two runs counts once, as in one clean run.
COPY (
    WITH earlier_rows_of_pending_sessions AS MATERIALIZED (
        -- A hash of the pending rows' sessions, probed by the day's earlier rows.
        SELECT earlier.user_id, earlier.session_id, earlier.batch_id
        FROM raw_signals AS earlier
        WHERE %(seen_upto)s > 0
          AND earlier.received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
          AND earlier.received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
          AND earlier.batch_id <= %(seen_upto)s
          AND (earlier.user_id, earlier.session_id) IN (
              SELECT pending.user_id, pending.session_id
              FROM raw_signals AS pending
              WHERE pending.received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
                AND pending.received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
                AND pending.batch_id > %(after)s
                AND pending.batch_id <= %(upto)s
                AND pending.session_id IS NOT NULL
                AND mod(hashtextextended(pending.user_id, 0) & 2147483647, %(shards)s) = ANY(%(shard_set)s)
          )
    ),
    counted_sessions AS (
        -- Each shard's own watermark, hashed only for the rows that matched.
        SELECT DISTINCT user_id, session_id
        FROM earlier_rows_of_pending_sessions
        WHERE batch_id <= (%(watermarks)s::bigint[])[mod(hashtextextended(user_id, 0) & 2147483647, %(shards)s) + 1]
    )
    SELECT
        signals.user_id,
        mod(hashtextextended(signals.user_id, 0) & 2147483647, %(shards)s) AS shard,
        signals.batch_id,
        signals.event_type,
        CASE WHEN counted_sessions.session_id IS NULL THEN signals.session_id END AS new_session_id,
        extract(hour FROM signals.occurred_at)::int AS hour,
        signals.city,
        signals.item_id,
        signals.dwell_ms,
        signals.props->>'vibe' AS vibe,
        signals.props->>'category' AS category,
        CASE WHEN signals.event_type = 'chat_message' THEN left(signals.props->>'text', %(chat_chars)s) END AS chat_text,
        CASE WHEN signals.event_type = 'chat_message' THEN signals.occurred_at END AS chat_at
    FROM raw_signals AS signals
    LEFT JOIN counted_sessions
        ON counted_sessions.user_id = signals.user_id AND counted_sessions.session_id = signals.session_id
    WHERE signals.received_at >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
      AND signals.received_at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
      AND signals.batch_id > %(after)s
      AND signals.batch_id <= %(upto)s
      AND mod(hashtextextended(signals.user_id, 0) & 2147483647, %(shards)s) = ANY(%(shard_set)s)
) TO STDOUT (FORMAT csv)
