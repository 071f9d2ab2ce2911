-- Requests by outcome, distinct users and generations with their spend since a time, and the average tokens and cost of one call (from the window's generations, else the stored answers).
SELECT
    count(*) FILTER (WHERE event = 'hit') AS hits,
    count(*) FILTER (WHERE event = 'near_hit') AS near_hits,
    count(*) FILTER (WHERE event = 'shared') AS shared,
    count(*) FILTER (WHERE event = 'miss') AS misses,
    count(DISTINCT user_hash) AS users,
    count(*) FILTER (WHERE event = 'generation') AS generations,
    count(*) FILTER (WHERE event = 'generation' AND generated_by = 'gemini') AS llm_answers,
    coalesce(sum(llm_calls), 0)::bigint AS llm_calls,
    count(*) FILTER (WHERE event = 'generation' AND fallback_reason IS NOT NULL) AS fallbacks,
    coalesce(sum(input_tokens + output_tokens), 0)::bigint AS tokens,
    coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
    coalesce(
        avg(call_tokens) FILTER (WHERE event = 'generation'),
        (SELECT avg(call_tokens) FROM semantic_cache WHERE state = 'ready'),
        0
    )::float8 AS call_tokens,
    coalesce(
        avg(call_cost_usd) FILTER (WHERE event = 'generation'),
        (SELECT avg(call_cost_usd) FROM semantic_cache WHERE state = 'ready'),
        0
    )::float8 AS call_cost_usd
FROM semantic_cache_ledger
WHERE at >= %(since)s
