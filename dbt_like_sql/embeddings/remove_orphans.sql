-- Deletes vectors of users who no longer have a profile (erased).
DELETE FROM profile_embeddings e
WHERE NOT EXISTS (SELECT 1 FROM user_profiles p WHERE p.user_id = e.user_id)
