-- The users with the most distilled signals, most first.
SELECT user_id FROM user_profile_heads ORDER BY signals_distilled DESC, user_id LIMIT %(limit)s
