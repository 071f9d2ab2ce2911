-- The current profiles of a shard's users parsed back into their evidence (DuckDB over `previous_docs`).
CREATE OR REPLACE TABLE previous AS
SELECT
    user_id,
    version,
    signals_since_llm,
    local_persona,
    llm_distilled_at,
    from_json(profile, '{
        "evidence_day": "DATE",
        "signals_distilled": "BIGINT",
        "interests": [{"topic": "VARCHAR", "weight": "DOUBLE"}],
        "cities": [{"city": "VARCHAR", "weight": "DOUBLE"}],
        "vibe": {"scores": [{"vibe": "VARCHAR", "weight": "DOUBLE"}]},
        "activity": {"hours": ["DOUBLE"], "sessions": "DOUBLE", "dwell_seconds": "DOUBLE"},
        "engagement": {"view": "DOUBLE", "click": "DOUBLE", "scroll": "DOUBLE", "dwell": "DOUBLE",
                       "search": "DOUBLE", "save": "DOUBLE", "book": "DOUBLE", "chat_message": "DOUBLE"},
        "saved_items": ["VARCHAR"],
        "booked_items": ["VARCHAR"]
    }') AS doc
FROM previous_docs
