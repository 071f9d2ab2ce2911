-- Whether the user_profiles table exists yet.
SELECT to_regclass('user_profiles') IS NOT NULL
