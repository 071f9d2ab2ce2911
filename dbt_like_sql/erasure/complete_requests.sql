-- Moves completed requests to the log: the raw id goes; the hash, times, requester and rows removed per store stay.
WITH done AS (
    DELETE FROM erasure_requests WHERE request_id = ANY(%(requests)s::bigint[])
    RETURNING request_id, user_hash, requested_at, requested_by, removed
)
INSERT INTO erasure_log (request_id, user_hash, requested_at, completed_at, found, removed, requested_by, run_id)
SELECT request_id, user_hash, requested_at, now(),
       EXISTS (SELECT 1 FROM jsonb_each_text(removed) AS s(store, rows) WHERE s.rows::bigint > 0),
       removed, requested_by, %(run_id)s
FROM done
RETURNING request_id, found
