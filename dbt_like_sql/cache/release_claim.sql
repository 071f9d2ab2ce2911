-- Gives up a claim whose generation failed, so that the next caller can claim the segment at once.
DELETE FROM semantic_cache
WHERE entry_id = %(entry_id)s AND claim_token = %(token)s AND state = 'pending'
