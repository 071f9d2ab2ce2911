-- Users of the shard due an LLM reading (DuckDB).
SELECT count(*) FROM merged_users WHERE llm_due
