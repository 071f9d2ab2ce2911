-- The most recently completed erasures, newest first, by hashed id.
SELECT encode(user_hash, 'hex') AS user_hash, requested_at, completed_at, found, removed
FROM erasure_log
ORDER BY completed_at DESC, request_id DESC
LIMIT %(limit)s
