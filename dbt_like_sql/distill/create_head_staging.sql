-- Staging for one shard's new head rows, dropped when the shard's transaction ends.
CREATE TEMP TABLE distill_heads (
    user_id           text,
    version           integer,
    evidence_day      date,
    signals_distilled bigint,
    signals_since_llm bigint,
    local_persona     text,
    llm_distilled_at  timestamptz
) ON COMMIT DROP
