-- Records the distillation marker user_segments is now up to date with.
INSERT INTO user_segments_state (profiles_updated) VALUES (%(marker)s)
ON CONFLICT (singleton) DO UPDATE SET profiles_updated = excluded.profiles_updated
