-- Points each user at the new version, only if the head is still the version the merge started from (else another run got there first).
INSERT INTO user_profile_heads AS h
    (user_id, version, evidence_day, signals_distilled, signals_since_llm, local_persona, llm_distilled_at, updated_at)
SELECT user_id, version, evidence_day, signals_distilled, signals_since_llm, local_persona, llm_distilled_at, %(updated_at)s
FROM distill_heads
ON CONFLICT (user_id) DO UPDATE SET
    version = excluded.version,
    evidence_day = excluded.evidence_day,
    signals_distilled = excluded.signals_distilled,
    signals_since_llm = excluded.signals_since_llm,
    local_persona = excluded.local_persona,
    llm_distilled_at = excluded.llm_distilled_at,
    updated_at = excluded.updated_at
WHERE h.version = excluded.version - 1
