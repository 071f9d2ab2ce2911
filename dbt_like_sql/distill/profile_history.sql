-- One user's stored profile versions, newest first.
SELECT version, day, distiller, signals, created_at, profile::text
FROM user_profile_versions
WHERE user_id = %(user_id)s
ORDER BY version DESC
LIMIT %(limit)s
