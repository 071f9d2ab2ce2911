-- Deletes answers past their expiry and claims that lapsed; counts each.
WITH gone AS (
    DELETE FROM semantic_cache WHERE expires_at <= now() RETURNING state
)
SELECT count(*) FILTER (WHERE state = 'ready') AS expired, count(*) FILTER (WHERE state = 'pending') AS lapsed_claims
FROM gone
