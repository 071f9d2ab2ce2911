-- Serves a segment's ready, unexpired answer and records the request in the ledger (a hit never moves expires_at); no row on a miss.
WITH served AS (
    UPDATE semantic_cache
    SET hits = hits + 1
    WHERE city = %(city)s
      AND kind = %(kind)s
      AND locale = %(locale)s
      AND version_hash = %(version_hash)s
      AND persona = %(persona)s
      AND state = 'ready'
      AND expires_at > now()
    RETURNING entry_id, persona, response, expires_at
),
logged AS (
    INSERT INTO semantic_cache_ledger (event, kind, segment_key, entry_id, user_hash)
    SELECT %(event)s, %(kind)s, %(segment_key)s, entry_id, hashtextextended(%(user_id)s, 0) FROM served
)
SELECT entry_id, persona, response, expires_at FROM served
