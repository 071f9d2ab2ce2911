-- Bench: the profiles written by one day's distillation, vacuumed and analysed as autovacuum has done by the next night (and before the next timed run).
VACUUM ANALYZE user_profile_heads, user_profile_versions
