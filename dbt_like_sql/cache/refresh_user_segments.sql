-- Brings every user's segment up to their current profile version (only changed profiles are read).
INSERT INTO user_segments AS s (user_id, profile_version, persona, city, evidence_day)
SELECT h.user_id, h.version, profile_segment_persona(v.profile), profile_segment_city(v.profile), h.evidence_day
FROM user_profile_heads AS h
JOIN user_profile_versions AS v ON v.user_id = h.user_id AND v.version = h.version
WHERE NOT EXISTS (
    SELECT 1 FROM user_segments AS known WHERE known.user_id = h.user_id AND known.profile_version = h.version
)
ON CONFLICT (user_id) DO UPDATE
SET profile_version = excluded.profile_version,
    persona = excluded.persona,
    city = excluded.city,
    evidence_day = excluded.evidence_day
