-- One user's current profile document and version.
SELECT version, profile::text, distiller, evidence_day, updated_at FROM user_profiles WHERE user_id = %(user_id)s
