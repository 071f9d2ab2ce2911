-- Every distilled profile, ordered by user so per-user lookups skip row groups.
SELECT user_id, profile, version, updated_at FROM user_profiles ORDER BY user_id
