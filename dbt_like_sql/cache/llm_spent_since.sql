-- Tokens and cost the cache's generations spent on the LLM since a time: what the daily budget has left.
SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint AS tokens, coalesce(sum(cost_usd), 0)::float8 AS cost_usd
FROM semantic_cache_ledger
WHERE event = 'generation' AND at >= %(since)s
