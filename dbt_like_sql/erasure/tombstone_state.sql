-- The tombstones' version (their count and newest time: they are never removed, so a cached copy with the same version is current) and whether the salt is the one they were made with.
SELECT
    (SELECT count(*) FROM erasure_tombstones) AS tombstones,
    (SELECT max(tombstoned_at) FROM erasure_tombstones) AS newest,
    coalesce(
        (SELECT salt_check = erasure_hash(%(salt)s, 'distillery.salt-check') FROM erasure_salt_check), true
    ) AS salt_matches
