-- Pending requests received longer ago than the allowed hours, and the oldest of them.
SELECT count(*) AS overdue, min(requested_at) AS oldest
FROM erasure_requests
WHERE requested_at < now() - make_interval(hours => %(hours)s)
