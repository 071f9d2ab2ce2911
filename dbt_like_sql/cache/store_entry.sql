-- Stores a warmed or refreshed answer for its segment with its hard expiry counted from now (replacing an older answer, never a live claim) and records the generation; returns the entry, null when a claim kept it out.
WITH stored AS (
    INSERT INTO semantic_cache AS c (
        city, kind, locale, version_hash, persona, state, response, embedding, embedding_model, model,
        generated_by, fallback_reason, input_tokens, output_tokens, cost_usd, call_tokens, call_cost_usd,
        segment_users, created_at, expires_at
    )
    SELECT
        %(city)s, %(kind)s, %(locale)s, %(version_hash)s, %(persona)s, 'ready', %(response)s,
        v.embedding, CASE WHEN v.embedding IS NOT NULL THEN %(embedding_model)s END, %(model)s,
        %(generated_by)s, %(fallback_reason)s, %(input_tokens)s, %(output_tokens)s, %(cost_usd)s,
        %(call_tokens)s, %(call_cost_usd)s, %(segment_users)s, now(), now() + make_interval(secs => %(ttl_s)s)
    FROM (
        SELECT (
            SELECT embedding FROM segment_persona_vectors
            WHERE model_id = %(embedding_model)s AND text = %(persona_text)s
        ) AS embedding
    ) AS v
    ON CONFLICT (city, kind, locale, version_hash, persona) DO UPDATE
    SET state = 'ready',
        claim_token = NULL,
        response = excluded.response,
        embedding = excluded.embedding,
        embedding_model = excluded.embedding_model,
        model = excluded.model,
        generated_by = excluded.generated_by,
        fallback_reason = excluded.fallback_reason,
        input_tokens = excluded.input_tokens,
        output_tokens = excluded.output_tokens,
        cost_usd = excluded.cost_usd,
        call_tokens = excluded.call_tokens,
        call_cost_usd = excluded.call_cost_usd,
        segment_users = excluded.segment_users,
        hits = 0,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at
    WHERE NOT (c.state = 'pending' AND c.expires_at > now())
    RETURNING entry_id
)
INSERT INTO semantic_cache_ledger (
    event, kind, segment_key, entry_id, source, generated_by, llm_calls, fallback_reason,
    input_tokens, output_tokens, cost_usd, call_tokens, call_cost_usd
)
VALUES (
    'generation', %(kind)s, %(segment_key)s, (SELECT entry_id FROM stored), %(source)s, %(generated_by)s,
    %(llm_calls)s, %(fallback_reason)s, %(input_tokens)s, %(output_tokens)s, %(cost_usd)s, %(call_tokens)s,
    %(call_cost_usd)s
)
RETURNING entry_id
