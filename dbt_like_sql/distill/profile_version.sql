-- One stored version of a user's profile.
SELECT profile::text, day FROM user_profile_versions WHERE user_id = %(user_id)s AND version = %(version)s
