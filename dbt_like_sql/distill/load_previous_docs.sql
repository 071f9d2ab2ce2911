-- Loads the current profiles of a shard's users from the CSV streamed out of Postgres (DuckDB; columns of copy_current_profiles).
CREATE OR REPLACE TABLE previous_docs AS
SELECT * FROM read_csv($path, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
    allow_quoted_nulls = false, columns = {
        'user_id': 'VARCHAR', 'version': 'INTEGER', 'signals_since_llm': 'BIGINT', 'local_persona': 'VARCHAR',
        'llm_distilled_at': 'TIMESTAMPTZ', 'profile': 'VARCHAR'
    })
