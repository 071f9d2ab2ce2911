-- Locks one user's profile head for a rollback and returns its current version.
SELECT version FROM user_profile_heads WHERE user_id = %(user_id)s FOR UPDATE
