-- Stores one profile version (a rollback's copy of an older one).
INSERT INTO user_profile_versions (user_id, version, profile, day, distiller, signals, run_id)
VALUES (%(user_id)s, %(version)s, %(profile)s, %(day)s, %(distiller)s, 0, %(run_id)s)
