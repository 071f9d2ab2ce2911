-- Loads the current profiles of a chunk's users streamed out of Postgres in COPY text format (DuckDB; columns of copy_current_profiles).
-- Every field but the document is a number, a time or a fixed label; a stored JSON document has no raw tab or newline, so its only escapes are doubled backslashes.
CREATE OR REPLACE TABLE previous_docs AS
SELECT
    json_extract_string(profile, '$.user_id') AS user_id,
    version, signals_since_llm, local_persona, llm_distilled_at, profile
FROM (
    SELECT version, signals_since_llm, local_persona, llm_distilled_at, replace(profile, '\\', '\') AS profile
    FROM read_csv($path, header = false, auto_detect = false, delim = '\t', quote = '', escape = '',
        nullstr = '\N', columns = {
            'version': 'INTEGER', 'signals_since_llm': 'BIGINT', 'local_persona': 'VARCHAR',
            'llm_distilled_at': 'TIMESTAMPTZ', 'profile': 'VARCHAR'
        })
)
