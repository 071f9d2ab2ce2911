-- The given user ids that are tombstoned, and a row with a NULL id when the salt is not the one the tombstones were made with.
SELECT NULL::text AS user_id
FROM erasure_salt_check
WHERE salt_check <> erasure_hash(%(salt)s, 'distillery.salt-check')
UNION ALL
SELECT u.user_id
FROM unnest(%(users)s::text[]) AS u(user_id)
-- no hash is computed while nothing was ever erased
WHERE EXISTS (SELECT 1 FROM erasure_tombstones)
  AND erasure_hash(%(salt)s, u.user_id) IN (SELECT user_hash FROM erasure_tombstones)
