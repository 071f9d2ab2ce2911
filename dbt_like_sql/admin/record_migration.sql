-- Records one applied migration.
INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)
