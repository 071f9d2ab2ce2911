-- Loads one shard's new head rows into staging.
COPY distill_heads (user_id, version, evidence_day, signals_distilled, signals_since_llm, local_persona, llm_distilled_at)
FROM STDIN (FORMAT text)
