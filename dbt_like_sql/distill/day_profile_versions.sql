-- Every profile version written for a receive day, as stored text.
SELECT user_id, version, profile::text FROM user_profile_versions WHERE day = %(day)s
