-- Adds rows removed from one store to each request's running count.
UPDATE erasure_requests AS r
SET removed = jsonb_set(
    r.removed, ARRAY[%(store)s::text], to_jsonb(coalesce((r.removed ->> %(store)s)::bigint, 0) + c.rows)
)
FROM unnest(%(requests)s::bigint[], %(rows)s::bigint[]) AS c(request_id, rows)
WHERE r.request_id = c.request_id
