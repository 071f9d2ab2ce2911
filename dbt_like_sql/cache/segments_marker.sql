-- The distillation marker user_segments was last refreshed at; no row before the first refresh.
SELECT profiles_updated FROM user_segments_state
