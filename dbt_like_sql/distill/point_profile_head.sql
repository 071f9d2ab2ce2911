-- Makes a version current for a user, with the evidence state its document carries.
UPDATE user_profile_heads
SET version = %(version)s, evidence_day = %(evidence_day)s, signals_distilled = %(signals_distilled)s,
    local_persona = %(local_persona)s, updated_at = now()
WHERE user_id = %(user_id)s
