-- Semantic cache lookups in the recent window and how many were answered from the cache.
SELECT count(*)::bigint AS lookups, count(*) FILTER (WHERE hit)::bigint AS hits
FROM semantic_cache_lookups
WHERE looked_up_at > now() - make_interval(hours => %(hours)s)
