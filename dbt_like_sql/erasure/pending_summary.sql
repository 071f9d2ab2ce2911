-- Pending requests: how many, and when the oldest was received.
SELECT count(*) AS pending, min(requested_at) AS oldest FROM erasure_requests
