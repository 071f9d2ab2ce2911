-- The chunk's new head rows as Postgres COPY text, by shard, in the column order of copy_head_staging (DuckDB).
SELECT shard, pg_text(user_id), version, evidence_day, signals_distilled, signals_since_llm, local_persona, llm_distilled_at
FROM documents
