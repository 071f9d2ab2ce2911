-- Bench baseline: a session-private copy of the versions table the per-user worker writes to.
CREATE TEMP TABLE naive_versions (LIKE user_profile_versions INCLUDING DEFAULTS)
