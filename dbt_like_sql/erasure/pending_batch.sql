-- The oldest pending requests after a request id, up to one batch.
SELECT request_id, user_id
FROM erasure_requests
WHERE request_id > %(after)s
ORDER BY request_id
LIMIT %(limit)s
