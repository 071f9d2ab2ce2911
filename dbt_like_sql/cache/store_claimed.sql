-- Stores the answer generated under a claim with its hard expiry counted from now, and records the generation and the request that made it; no row when the claim was lost.
WITH vector AS (
    SELECT embedding FROM segment_persona_vectors WHERE model_id = %(embedding_model)s AND text = %(persona_text)s
),
stored AS (
    UPDATE semantic_cache
    SET state = 'ready',
        claim_token = NULL,
        response = %(response)s,
        embedding = (SELECT embedding FROM vector),
        embedding_model = CASE WHEN EXISTS (SELECT 1 FROM vector) THEN %(embedding_model)s END,
        model = %(model)s,
        generated_by = %(generated_by)s,
        fallback_reason = %(fallback_reason)s,
        input_tokens = %(input_tokens)s,
        output_tokens = %(output_tokens)s,
        cost_usd = %(cost_usd)s,
        call_tokens = %(call_tokens)s,
        call_cost_usd = %(call_cost_usd)s,
        segment_users = %(segment_users)s,
        hits = 0,
        created_at = now(),
        expires_at = now() + make_interval(secs => %(ttl_s)s)
    WHERE entry_id = %(entry_id)s AND claim_token = %(token)s
    RETURNING entry_id, expires_at
),
generation AS (
    INSERT INTO semantic_cache_ledger (
        event, kind, segment_key, entry_id, source, generated_by, llm_calls, fallback_reason,
        input_tokens, output_tokens, cost_usd, call_tokens, call_cost_usd
    )
    VALUES (
        'generation', %(kind)s, %(segment_key)s, %(entry_id)s, 'request', %(generated_by)s, %(llm_calls)s,
        %(fallback_reason)s, %(input_tokens)s, %(output_tokens)s, %(cost_usd)s, %(call_tokens)s, %(call_cost_usd)s
    )
),
request AS (
    INSERT INTO semantic_cache_ledger (event, kind, segment_key, entry_id, user_hash)
    VALUES ('miss', %(kind)s, %(segment_key)s, %(entry_id)s, hashtextextended(%(user_id)s, 0))
)
SELECT entry_id, expires_at FROM stored
