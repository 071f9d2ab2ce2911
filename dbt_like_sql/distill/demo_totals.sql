-- Signals distilled, profiles and stored versions across the whole database (the demo's summary).
SELECT
    coalesce((SELECT sum(signals) FROM distilled_days), 0),
    (SELECT count(*) FROM user_profile_heads),
    (SELECT count(*) FROM user_profile_versions)
