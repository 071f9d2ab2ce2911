-- Keeps the newest `kept` versions of each updated profile, so history stays proportional to users, not days.
DELETE FROM user_profile_versions AS v
USING distill_heads AS s
WHERE v.user_id = s.user_id AND v.version <= s.version - %(kept)s
