-- Users due an LLM reading, with the compact evidence and recent chat the model sees (DuckDB).
SELECT
    m.user_id,
    m.local_persona AS persona,
    m.new_signals,
    m.signals_since_llm,
    m.persona_scores,
    [i.topic FOR i IN coalesce(k.interests, [])] AS interests,
    [c.city FOR c IN coalesce(k.cities, [])] AS cities,
    [v.vibe FOR v IN coalesce(k.vibes, [])] AS vibes,
    m.daypart,
    m.chat
FROM merged_users AS m
LEFT JOIN merged_keys AS k USING (user_id)
WHERE m.llm_due
ORDER BY m.signals_since_llm DESC, m.user_id
