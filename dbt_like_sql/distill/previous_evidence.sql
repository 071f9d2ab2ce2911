-- The current profiles of a chunk's users, streamed out of Postgres in COPY text format (columns of copy_current_profiles), parsed back into their evidence (DuckDB).
-- Every field but the document is a number, a time or a fixed label; a stored JSON document has no raw tab or newline, so its only escapes are doubled backslashes.
CREATE OR REPLACE TEMP TABLE previous AS
SELECT
    doc.user_id,
    version,
    signals_since_llm,
    local_persona,
    llm_distilled_at,
    doc
FROM (
    SELECT version, signals_since_llm, local_persona, llm_distilled_at, from_json(replace(profile, '\\', '\'), '{
        "user_id": "VARCHAR",
        "evidence_day": "DATE",
        "signals_distilled": "BIGINT",
        "interests": [{"topic": "VARCHAR", "weight": "DOUBLE"}],
        "cities": [{"city": "VARCHAR", "weight": "DOUBLE"}],
        "vibe": {"scores": [{"vibe": "VARCHAR", "weight": "DOUBLE"}]},
        "items": [{"item": "VARCHAR", "weight": "DOUBLE"}],
        "activity": {"hours": ["DOUBLE"], "sessions": "DOUBLE", "dwell_seconds": "DOUBLE"},
        "engagement": {"view": "DOUBLE", "click": "DOUBLE", "scroll": "DOUBLE", "dwell": "DOUBLE",
                       "search": "DOUBLE", "save": "DOUBLE", "book": "DOUBLE", "chat_message": "DOUBLE"},
        "saved_items": ["VARCHAR"],
        "booked_items": ["VARCHAR"]
    }') AS doc
    FROM read_csv($path, header = false, auto_detect = false, delim = '\t', quote = '', escape = '',
        nullstr = '\N', columns = {
            'version': 'INTEGER', 'signals_since_llm': 'BIGINT', 'local_persona': 'VARCHAR',
            'llm_distilled_at': 'TIMESTAMPTZ', 'profile': 'VARCHAR'
        })
)
