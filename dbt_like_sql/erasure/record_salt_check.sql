-- Records the check value of the salt in use the first time one is used; returns the recorded value.
WITH inserted AS (
    INSERT INTO erasure_salt_check (salt_check) VALUES (erasure_hash(%(salt)s, 'distillery.salt-check'))
    ON CONFLICT (singleton) DO NOTHING
    RETURNING salt_check
)
SELECT salt_check = erasure_hash(%(salt)s, 'distillery.salt-check') AS matches
FROM (SELECT salt_check FROM inserted UNION ALL SELECT salt_check FROM erasure_salt_check) AS recorded
LIMIT 1
