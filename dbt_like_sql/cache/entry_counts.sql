-- Stored entries: servable answers, expired answers not yet evicted, claims in progress, segments answered, hits served.
SELECT
    count(*) FILTER (WHERE state = 'ready' AND expires_at > now()) AS servable,
    count(*) FILTER (WHERE state = 'ready' AND expires_at <= now()) AS expired,
    count(*) FILTER (WHERE state = 'pending') AS pending,
    count(DISTINCT (city, persona)) FILTER (WHERE state = 'ready' AND expires_at > now()) AS segments,
    coalesce(sum(hits), 0)::bigint AS hits
FROM semantic_cache
