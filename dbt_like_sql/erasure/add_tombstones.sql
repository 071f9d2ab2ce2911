-- Adds the salted hashes of the given ids to the tombstones, so ingestion refuses their later events at once.
INSERT INTO erasure_tombstones (user_hash)
SELECT DISTINCT erasure_hash(%(salt)s, u.user_id)
FROM unnest(%(users)s::text[]) AS u(user_id)
ON CONFLICT (user_hash) DO NOTHING
