-- The erasure state of each given id: pending, erased (with its newest log row) or not requested.
SELECT
    u.user_id,
    CASE WHEN r.request_id IS NOT NULL THEN 'pending' WHEN l.request_id IS NOT NULL THEN 'erased' ELSE 'not requested' END AS state,
    coalesce(r.requested_at, l.requested_at) AS requested_at,
    l.completed_at,
    l.found,
    coalesce(r.removed, l.removed) AS removed
FROM unnest(%(users)s::text[]) WITH ORDINALITY AS u(user_id, position)
LEFT JOIN erasure_requests AS r ON r.user_hash = erasure_hash(%(salt)s, u.user_id)
LEFT JOIN LATERAL (
    SELECT * FROM erasure_log AS g
    WHERE g.user_hash = erasure_hash(%(salt)s, u.user_id)
    ORDER BY g.completed_at DESC
    LIMIT 1
) AS l ON true
ORDER BY u.position
