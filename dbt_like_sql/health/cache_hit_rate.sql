-- Semantic cache requests in the recent window, and those answered without a generation of their own (hit, near hit, shared).
SELECT count(*)::bigint AS lookups, count(*) FILTER (WHERE event <> 'miss')::bigint AS hits
FROM semantic_cache_ledger
WHERE at > now() - make_interval(hours => %(hours)s)
  AND event IN ('hit', 'near_hit', 'shared', 'miss')
