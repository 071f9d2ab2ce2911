-- A day's LLM requests (those that reached the model), their tokens and cost, and the signals distilled for the day.
SELECT
    (SELECT count(*) FROM llm_usage WHERE day = %(day)s AND attempts > 0) AS calls,
    (SELECT coalesce(sum(input_tokens + output_tokens), 0)::bigint FROM llm_usage WHERE day = %(day)s) AS tokens,
    (SELECT coalesce(sum(cost_usd), 0) FROM llm_usage WHERE day = %(day)s) AS cost_usd,
    (SELECT coalesce(sum(signals), 0)::bigint FROM distill_watermarks WHERE day = %(day)s) AS signals
