-- Answers the lookup would still serve although their hard TTL is over: an expiry stretched past created_at + TTL, or no generation of the entry in the ledger within the TTL.
WITH servable AS (
    SELECT entry_id, persona, city, kind, created_at, expires_at
    FROM semantic_cache
    WHERE state = 'ready' AND expires_at > now()
),
generated AS (
    SELECT entry_id, max(at) AS at
    FROM semantic_cache_ledger
    WHERE event = 'generation' AND at > now() - make_interval(secs => %(ttl_s)s)
    GROUP BY entry_id
),
judged AS (
    SELECT s.*, s.expires_at > s.created_at + make_interval(secs => %(ttl_s)s) OR g.at IS NULL AS past_ttl
    FROM servable AS s
    LEFT JOIN generated AS g USING (entry_id)
)
SELECT
    count(*) AS servable,
    count(*) FILTER (WHERE past_ttl) AS past_ttl,
    coalesce((array_agg(format('%%s · %%s (%%s)', persona, city, kind) ORDER BY entry_id) FILTER (WHERE past_ttl))[1:5], '{}') AS examples
FROM judged
