-- Forgets the segments of users who no longer have a profile.
DELETE FROM user_segments AS s
WHERE NOT EXISTS (SELECT 1 FROM user_profile_heads AS h WHERE h.user_id = s.user_id)
