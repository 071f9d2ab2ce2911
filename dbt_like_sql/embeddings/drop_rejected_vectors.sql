-- Deletes the old vectors of profiles whose new text was rejected: they no longer describe the profile.
DELETE FROM profile_embeddings
WHERE model_id = %(model_id)s AND user_id = ANY(%(user_ids)s::text[])
