-- Appends one part of the run's pending signals, streamed out of Postgres as CSV, to day_signals (DuckDB).
INSERT INTO day_signals
SELECT * FROM read_csv($path, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
    allow_quoted_nulls = false, columns = {
        'user_id': 'VARCHAR', 'shard': 'INTEGER', 'batch_id': 'BIGINT', 'event_type': 'VARCHAR',
        'session_id': 'VARCHAR', 'hour': 'INTEGER', 'city': 'VARCHAR', 'item_id': 'VARCHAR',
        'dwell_ms': 'INTEGER', 'vibe': 'VARCHAR', 'category': 'VARCHAR', 'chat_text': 'VARCHAR',
        'chat_at': 'TIMESTAMPTZ'
    })
