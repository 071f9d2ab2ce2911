-- Bench baseline: one profile version written by the per-user worker.
INSERT INTO naive_versions (user_id, version, profile, day, distiller, signals)
VALUES (%(user_id)s, %(version)s, %(profile)s, %(day)s, 'naive', %(signals)s)
