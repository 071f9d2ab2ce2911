-- Replaces the local reading with the LLM's for the users it answered for (DuckDB over `llm_readings`).
UPDATE interpretation
SET persona = r.persona, travel_style = r.travel_style, summary = r.summary, tags = r.tags, distiller = 'gemini'
FROM llm_readings AS r
WHERE interpretation.user_id = r.user_id
