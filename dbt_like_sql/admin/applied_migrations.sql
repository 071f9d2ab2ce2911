-- Versions already applied, with the checksum of the text that ran.
SELECT version, checksum FROM schema_migrations
