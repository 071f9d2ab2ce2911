-- Distinct users whose profile got a version from the day's signals.
SELECT count(DISTINCT user_id) FROM user_profile_versions WHERE day = %(day)s AND distiller <> 'rollback'
