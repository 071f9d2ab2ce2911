-- Keeps the newest `kept` versions of each updated profile, so history stays proportional to users, not days.
-- Only profiles past `kept` versions can have one to drop; the others are not looked up.
DELETE FROM user_profile_versions AS v
USING distill_heads AS s
WHERE s.version > %(kept)s AND v.user_id = s.user_id AND v.version <= s.version - %(kept)s
