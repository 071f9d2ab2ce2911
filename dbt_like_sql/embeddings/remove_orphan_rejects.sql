-- Deletes rejections of users who no longer have a profile (erased).
DELETE FROM embedding_rejects r
WHERE NOT EXISTS (SELECT 1 FROM user_profile_heads h WHERE h.user_id = r.user_id)
