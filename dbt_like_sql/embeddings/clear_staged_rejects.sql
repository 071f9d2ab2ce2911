-- Forgets earlier rejections of profiles that now have a vector.
DELETE FROM embedding_rejects r
USING embedding_staging s
WHERE r.user_id = s.user_id AND r.model_id = %(model_id)s
