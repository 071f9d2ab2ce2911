-- How many ids are tombstoned (never removed, so the count tells whether a cached copy is current) and whether the salt is the one they were made with.
SELECT
    (SELECT count(*) FROM erasure_tombstones) AS tombstones,
    coalesce(
        (SELECT salt_check = erasure_hash(%(salt)s, 'distillery.salt-check') FROM erasure_salt_check), true
    ) AS salt_matches
