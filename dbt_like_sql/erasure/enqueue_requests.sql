-- Queues an erasure request for each given id (one pending request per user); returns the ids queued now.
INSERT INTO erasure_requests (user_id, user_hash, requested_by)
SELECT DISTINCT u.user_id, erasure_hash(%(salt)s, u.user_id), %(requested_by)s
FROM unnest(%(users)s::text[]) AS u(user_id)
ON CONFLICT (user_hash) DO NOTHING
RETURNING user_id
