-- The run's pending signals in DuckDB (columns of copy_day_signals), filled part by part by load_day_signals, which reads its types from here.
CREATE TABLE day_signals (
    user_id VARCHAR, shard INTEGER, batch_id BIGINT, event_type VARCHAR, new_session_id VARCHAR, hour INTEGER,
    city VARCHAR, item_id VARCHAR, dwell_ms INTEGER, vibe VARCHAR, category VARCHAR, chat_text VARCHAR,
    chat_at TIMESTAMPTZ
)
