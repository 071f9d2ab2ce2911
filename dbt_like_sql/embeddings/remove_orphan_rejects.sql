-- Deletes rejections of users who no longer have a profile (erased).
DELETE FROM embedding_rejects r
WHERE NOT EXISTS (SELECT 1 FROM user_profiles p WHERE p.user_id = r.user_id)
